# LOCAL STAND-IN for ghcr.io/astral-sh/uv:<version>: the same static binaries at /uv and /uvx,
# taken from the hash-pinned uv wheel on PyPI (uv-requirements.txt) because no container
# registry answers. Built by tests/containers/standins; where the real image can be pulled, it is.
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE} AS fetch
ARG UV_VERSION
COPY uv-requirements.txt /tmp/requirements.txt
# The musllinux wheel: its uv is statically linked, as the real image's /uv is.
RUN python3 -m venv /tmp/fetch \
    && /tmp/fetch/bin/pip install --quiet --no-deps --only-binary=:all: --require-hashes \
        --platform "musllinux_1_1_$(uname -m)" --target /tmp/uv -r /tmp/requirements.txt \
    && test "$(/tmp/uv/bin/uv --version | cut -d' ' -f2)" = "${UV_VERSION}"

FROM scratch
ARG UV_VERSION
ARG RECIPE
LABEL org.opencontainers.image.description="LOCAL STAND-IN for ghcr.io/astral-sh/uv:${UV_VERSION} (uv ${UV_VERSION} binaries from the PyPI wheel); built by tests/containers/standins because no container registry was reachable. Not the official image." \
      dev.yoto-smart-stream.stand-in="true" \
      dev.yoto-smart-stream.stand-in-recipe="${RECIPE}"
COPY --from=fetch /tmp/uv/bin/uv /uv
COPY --from=fetch /tmp/uv/bin/uvx /uvx
ENTRYPOINT ["/uv"]
