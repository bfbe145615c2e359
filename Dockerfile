# The operator's image. The same image serves as the operator Deployment (cluster, backup and
# restore controllers, chosen with --controllers) and, later, as the restore init container
# that fetches a snapshot. In the local environment the node agent runs this project's code
# from the checkout for the image name `localhost/etcd-operator`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY controller ./controller
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
USER 65532:65532
ENTRYPOINT ["etcd-operator"]
