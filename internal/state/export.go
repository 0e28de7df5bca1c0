package state

// EncodeRecord returns the JSON form of rec that every tokend store keeps
// (the bbolt store's value; the Vault store's KV data). The bytes hold
// secrets in clear: never log them.
func EncodeRecord(rec Record) ([]byte, error) { return jsonCodec{}.encode(rec) }

// DecodeRecord parses bytes written by EncodeRecord for the credential name.
// Errors never quote the input.
func DecodeRecord(name string, data []byte) (Record, error) { return jsonCodec{}.decode(name, data) }
