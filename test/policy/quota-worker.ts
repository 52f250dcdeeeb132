import { createLogger } from '../../core/log.ts';
// A second "proxy" process for the quota test: counts the given minutes against one person.
import { connectRedis } from '../../core/storage/redis.ts';
import { addQuotaUsage } from '../../core/policy/person-state.ts';

const [url, pseudonym, category, instantsJson] = process.argv.slice(2) as [string, string, string, string];
const redis = connectRedis(url, createLogger('test'));
let last = 0;
for (const iso of JSON.parse(instantsJson) as string[]) {
  last = await addQuotaUsage(redis, { pseudonym, category, at: new Date(iso), timezone: 'Europe/London' });
}
process.stdout.write(`${last}\n`);
redis.disconnect();
