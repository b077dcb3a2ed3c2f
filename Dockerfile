# skelforge on CPU (MediaPipe/TFLite experts are CPU). Build: docker build -t skelforge .
# Run:   docker run --rm -v /data/videos:/videos -v /data/out:/out skelforge build --videos /videos --out /out
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/skelforge
COPY pyproject.toml constraints.txt README.md dagfile.py ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY schemas ./schemas
COPY configs ./configs
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["skelforge"]
CMD ["--help"]
