# The fairwatch image for docker-compose.yml: one image, one role per container (the command).
# The first stage compiles the TypeScript; the image holds the compiled JavaScript (dist/) and the
# production packages only, so nothing loads TypeScript at run time.
FROM node:24.22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/build-state.mjs ./scripts/
COPY cli ./cli
COPY core ./core
COPY proxy ./proxy
COPY analyser ./analyser
COPY dashboards ./dashboards
RUN npm run build

FROM node:24.22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# `npm install` rather than `npm ci`: the lock file is written on one platform and npm ci refuses
# optional packages of the others. Development tools are left out, and so is the Node.js package
# (node-linux-*) that machines with an older system Node.js run on: this image's own is the same.
RUN npm install --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/node-linux-* node_modules/.bin/node \
 && npm cache clean --force
COPY bin ./bin
COPY scripts/build-state.mjs ./scripts/
COPY --from=build /app/dist ./dist
COPY blocklists ./blocklists
COPY fairwatch.example.yaml ./
RUN mkdir -p /var/lib/fairwatch/ca && chown -R node:node /var/lib/fairwatch
USER node
ENV FAIRWATCH_DATA_DIR=/var/lib/fairwatch \
    FAIRWATCH_BLOCKLISTS=/app/blocklists
ENTRYPOINT ["node", "bin/fairwatch"]
CMD ["start"]
