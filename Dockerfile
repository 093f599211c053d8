# syntax=docker/dockerfile:1

# CarePath: the REST API, the Temporal worker and the migrate/seed commands
# in one static binary. Run as `docker run IMAGE api|worker|migrate|seed`.

# ---- build ------------------------------------------------------------------
# Runs on the build host's platform and cross-compiles for the target one.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Module downloads get their own layer, rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
ARG TARGETOS TARGETARCH
# CGO_ENABLED=0: a static binary that needs no libc in the runtime image.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/carepath ./cmd/carepath

# ---- runtime ----------------------------------------------------------------
# bookworm-slim rather than distroless so that the compose healthcheck can
# call the API with curl; the binary itself needs only CA certificates.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 carepath \
    && useradd --system --uid 10001 --gid carepath --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin carepath

COPY --from=build /out/carepath /carepath

USER 10001:10001
# The programs default to loopback; in a container the API listens on all
# interfaces (compose sets this too).
ENV API_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/carepath"]
CMD ["api"]
