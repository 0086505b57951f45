# syntax=docker/dockerfile:1
# Build: docker build -t sifely2mqtt .
# Run:   docker run -d --name sifely2mqtt -v /srv/sifely2mqtt:/config -v sifely2mqtt-state:/var/lib/sifely2mqtt \
#          -p 8787:8787 sifely2mqtt
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/sifely2mqtt ./cmd/sifely2mqtt
# An empty state dir owned by the runtime user, so that a new named volume
# mounted there is writable (token cache, record cursors).
RUN mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sifely2mqtt /usr/local/bin/sifely2mqtt
COPY --from=build --chown=65532:65532 /out/state /var/lib/sifely2mqtt
COPY config.yaml.example /etc/sifely2mqtt/config.yaml.example
ENV STATE_DIRECTORY=/var/lib/sifely2mqtt
VOLUME ["/var/lib/sifely2mqtt"]
# webhook (if configured) and health/metrics (bind http.listen to 0.0.0.0:9780 to publish it)
EXPOSE 8787 9780
USER nonroot:nonroot
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/sifely2mqtt"]
CMD ["-config", "/config/config.yaml"]
