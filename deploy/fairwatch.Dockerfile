# The fairwatch image for docker-compose.yml: one image, one role per container (the command).
FROM node:20.19-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# `npm install` rather than `npm ci`: the lock file is written on one platform and npm ci refuses
# optional packages of the others. Development tools are left out.
RUN npm install --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY cli ./cli
COPY core ./core
COPY proxy ./proxy
COPY analyser ./analyser
COPY dashboards ./dashboards
COPY blocklists ./blocklists
COPY tsconfig.json fairwatch.example.yaml ./
RUN mkdir -p /var/lib/fairwatch/ca && chown -R node:node /var/lib/fairwatch
USER node
ENV FAIRWATCH_DATA_DIR=/var/lib/fairwatch \
    FAIRWATCH_BLOCKLISTS=/app/blocklists
ENTRYPOINT ["node", "bin/fairwatch"]
CMD ["start"]
