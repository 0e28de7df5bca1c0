package fakeprovider

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// deviceGrantType is RFC 8628 §3.4's grant_type.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Device-flow defaults (RFC 8628 §3.2: interval defaults to 5 s).
const (
	DefaultDeviceTTL      = 10 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
)

// devices holds the device grants in flight, by device code (guarded by the
// Provider's mu). They are not persisted: a device grant lives minutes.
type devices struct {
	byCode   map[string]*deviceGrant
	ttl      time.Duration
	interval time.Duration
	slowNext int // answer slow_down to this many more polls (SlowDownNext)
}

// deviceGrant is one device authorization (RFC 8628 §3.2).
type deviceGrant struct {
	clientID, userCode, scope string
	expiresAt                 time.Time
	interval                  time.Duration // raised by 5 s with every slow_down (§3.5)
	lastPoll                  time.Time
	approved, denied, used    bool
	polls                     int
}

func newDevices() *devices {
	return &devices{byCode: map[string]*deviceGrant{}, ttl: DefaultDeviceTTL, interval: DefaultDeviceInterval}
}

// DeviceStats is what the device endpoint saw, for tests.
type DeviceStats struct {
	Authorizations int // device codes issued
	Polls          int // token requests with the device_code grant
	SlowDowns      int // slow_down answers
	TooFast        int // polls sooner than the grant's interval (each answered slow_down)
}

// SetDeviceTiming sets the lifetime and polling interval announced for new
// device codes (defaults: ten minutes and five seconds).
func (p *Provider) SetDeviceTiming(ttl, interval time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.devices.ttl, p.devices.interval = ttl, interval
}

// SlowDownNext makes the next n polls answer slow_down (a provider under
// load), raising the grant's interval by 5 s each time as RFC 8628 §3.5
// says; a poll sooner than the raised interval is answered slow_down again.
func (p *Provider) SlowDownNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.devices.slowNext = n
}

// ApproveDevice and DenyDevice act as the user at the verification page for
// userCode; false when no such grant is waiting.
func (p *Provider) ApproveDevice(userCode string) bool { return p.decideDevice(userCode, true) }

// DenyDevice: see ApproveDevice.
func (p *Provider) DenyDevice(userCode string) bool { return p.decideDevice(userCode, false) }

func (p *Provider) decideDevice(userCode string, approve bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.devices.byCode {
		if g.userCode == userCode && !g.used && !g.approved && !g.denied {
			g.approved, g.denied = approve, !approve
			return true
		}
	}
	return false
}

// DeviceStats returns the device endpoint's counters.
func (p *Provider) DeviceStats() DeviceStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deviceStats
}

// serveDevice is the device authorization endpoint (RFC 8628 §3.1-3.2):
// POST, form-encoded, the client authenticated as at the token endpoint.
func (p *Provider) serveDevice(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	params, oerr := parseRequest(r, body, readErr)
	if oerr == nil && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oerr = errRequest("the device authorization request must be form-encoded (RFC 8628 §3.1)")
	}
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	p.mu.Lock()
	clientID, oerr := p.authenticateLocked(r.Header.Get("Authorization"), params)
	var resp map[string]any
	if oerr == nil {
		scope := normalizeScope(params["scope"])
		if !validScope(scope) {
			oerr = errScope("malformed scope")
		} else {
			code, user := randomToken("dc_"), userCode()
			d := p.devices
			d.byCode[code] = &deviceGrant{clientID: clientID, userCode: user, scope: scope, expiresAt: p.now().Add(d.ttl), interval: d.interval}
			p.deviceStats.Authorizations++
			base := "http://" + r.Host + "/device"
			resp = map[string]any{"device_code": code, "user_code": user, "verification_uri": base,
				"verification_uri_complete": base + "?user_code=" + user, "expires_in": int64(d.ttl / time.Second),
				"interval": int64(d.interval / time.Second)}
		}
	}
	p.mu.Unlock()
	if oerr != nil {
		writeError(w, oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// deviceTokenLocked serves the device_code grant (RFC 8628 §3.4-3.5),
// strictly: a poll sooner than the interval is slow_down (and the interval
// grows by 5 s), an unapproved code is authorization_pending, a denied one
// access_denied, an expired one expired_token; a code is redeemed once.
func (p *Provider) deviceTokenLocked(clientID string, params map[string]string) (*tokenResponse, *oauthError) {
	p.deviceStats.Polls++
	g := p.devices.byCode[params["device_code"]]
	if g == nil || g.clientID != clientID || g.used {
		return nil, errGrant("unknown or already used device code")
	}
	now := p.now()
	g.polls++
	tooFast := g.polls > 1 && now.Sub(g.lastPoll) < g.interval
	g.lastPoll = now
	pending := func(code string) *oauthError { return &oauthError{status: http.StatusBadRequest, code: code} }
	switch {
	case !now.Before(g.expiresAt):
		return nil, pending("expired_token")
	case tooFast || p.devices.slowNext > 0:
		if tooFast {
			p.deviceStats.TooFast++
		} else {
			p.devices.slowNext--
		}
		p.deviceStats.SlowDowns++
		g.interval += 5 * time.Second
		return nil, pending("slow_down")
	case g.denied:
		return nil, pending("access_denied")
	case !g.approved:
		return nil, pending("authorization_pending")
	}
	g.used = true
	fam := p.newFamilyLocked(clientID, g.scope)
	resp := p.accessResponseLocked(clientID, fam, g.scope)
	resp.RefreshToken = p.issueRefreshLocked(fam)
	return resp, nil
}

// userCode is an eight-letter code in RFC 8628 §6.1's style: WDJB-MJHT.
func userCode() string {
	const letters = "BCDFGHJKLMNPQRSTVWXZ" // no vowels: no words
	raw := randomToken("")
	var b strings.Builder
	for i := 0; i < 8; i++ {
		if i == 4 {
			b.WriteByte('-')
		}
		b.WriteByte(letters[int(raw[i])%len(letters)])
	}
	return b.String()
}
