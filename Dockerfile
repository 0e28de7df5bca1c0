# syntax=docker/dockerfile:1
# tokend: a static binary on distroless, running as nonroot (65532).
#   docker build -t tokend --build-arg VERSION=$(git describe --always) .
#   docker run --rm -v $PWD/tokend.toml:/etc/tokend/config/tokend.toml:ro tokend
FROM golang:1.26 AS build
WORKDIR /src
# The root module alone is what tokend ships; go.work only adds the interop tests.
ENV GOWORK=off
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOFLAGS=-trimpath go build -ldflags "-s -w -X github.com/tokend/tokend/internal/buildinfo.Version=${VERSION}" -o /out/tokend ./cmd/tokend

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tokend /usr/local/bin/tokend
USER nonroot:nonroot
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/tokend"]
CMD ["run", "--config", "/etc/tokend/config/tokend.toml"]
