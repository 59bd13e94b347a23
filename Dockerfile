# syntax=docker/dockerfile:1.7
# One image for every context; the context is chosen at start: `worker <context>`.
#   docker build -t orderstream .
#   docker run --rm -e ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 orderstream worker order

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orderstream ./orderstream
# The package and every pinned dependency as wheels; the runtime stage installs only these.
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    ORDERSTREAM_DATADIR=/var/lib/orderstream/data \
    ORDERSTREAM_WEB_HOST=0.0.0.0
RUN groupadd --system --gid 10001 orderstream \
    && useradd --system --uid 10001 --gid orderstream --home-dir /var/lib/orderstream \
        --no-create-home --shell /usr/sbin/nologin orderstream \
    && install -d -o orderstream -g orderstream -m 0750 /var/lib/orderstream /var/lib/orderstream/data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/orderstream-*.whl
# `orderstream topics apply` reads the topic spec from ./topics/topics.toml.
WORKDIR /opt/orderstream
COPY topics/topics.toml topics/
VOLUME ["/var/lib/orderstream/data"]
# Per-context defaults for a local run; the Helm chart sets ORDERSTREAM_WEB_PORT=8080 instead.
EXPOSE 6061-6066
USER 10001:10001
ENTRYPOINT ["orderstream"]
CMD ["--help"]
