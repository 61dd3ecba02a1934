# The production image: the product alone (`pip install .`, no dev extras; .dockerignore keeps out
# the simulator, the demo, tests, local state and version control), static files collected for
# DEBUG=false, run as a user that owns nothing in /app.
# tests/test_production.py (in `make test`) runs bin/collect-static and this CMD's gunicorn with the
# production settings, so what this image runs has been started before it ships.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY . .
RUN pip install . \
    && PYTHON=python bin/collect-static \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spreview
USER 10001
EXPOSE 8000
# Keep in step with tests/test_production.py's GUNICORN (and bench/load_bench.py's).
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
