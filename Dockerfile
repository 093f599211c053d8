# syntax=docker/dockerfile:1

# CarePath: the REST API, the Temporal worker and the migrate command in one
# binary. Run as `docker run IMAGE api|worker|migrate`.
#
# The image is a deployment: CAREPATH_ENV=production. The API and the worker
# refuse to start until every secret is set to a value of your own, and name
# each one missing: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET,
# TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, PHARMACY_WEBHOOK_SECRET,
# CAREPATH_AUTH_MASTER_KEY, CAREPATH_RECORDS_KEYS, CAREPATH_CODEC_KEYS and
# PRESCRIPTION_SIGNING_KEY (README, "Before going live", says how to make
# each). Pass them at run time from a secret store; never bake them in. Set
# the addresses too (DATABASE_URL, TEMPORAL_ADDRESS, REDIS_URL, NEO4J_URI,
# STRIPE_API_BASE, TWILIO_API_BASE, PHARMACY_API_BASE, PUBLIC_BASE_URL).
# `carepath seed` (demo data, public passwords) runs with CAREPATH_ENV=local
# only.

# ---- ONNX Runtime -----------------------------------------------------------
# The clinical models run on ONNX Runtime 1.24 through cgo. Its shared
# library ships inside the onnxruntime-node npm package (the same file
# `make tools` fetches for local runs).
FROM node:20-bookworm-slim AS onnxruntime
WORKDIR /ort
RUN npm pack onnxruntime-node@1.24.3 \
    && tar -xzf onnxruntime-node-1.24.3.tgz package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
    && mv package/bin/napi-v6/linux/x64/libonnxruntime.so.1 /ort/libonnxruntime.so.1

# ---- build ------------------------------------------------------------------
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Module downloads get their own layer, rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# CGO_ENABLED=1: onnxruntime_go loads the ONNX Runtime library through cgo.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/carepath ./cmd/carepath

# ---- runtime ----------------------------------------------------------------
# bookworm-slim: the binary needs glibc (cgo) and CA certificates, and the
# compose healthcheck calls the API with curl.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 carepath \
    && useradd --system --uid 10001 --gid carepath --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin carepath \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/carepath

COPY --from=onnxruntime /ort/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/carepath /carepath

USER 10001:10001
# The programs default to loopback; in a container the API listens on all
# interfaces (compose sets this too). CAREPATH_DATA_DIR holds the audit head
# export and the document store (mount a volume there, or point
# CAREPATH_AUDIT_HEAD_FILE and CAREPATH_RECORDS_DIR elsewhere).
ENV CAREPATH_ENV=production \
    CAREPATH_DATA_DIR=/var/lib/carepath \
    API_ADDR=0.0.0.0:8080 \
    ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so.1
EXPOSE 8080
ENTRYPOINT ["/carepath"]
CMD ["api"]
