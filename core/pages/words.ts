import type { Config } from '../config/schema.ts';

// Plain words for the policy's internal names, so staff never see "social_networks" or "rule:3".

/** A category's label from policy.categoryLabels, else its directory name made readable. */
export function categoryLabel(config: Pick<Config, 'policy'>, category: string): string {
  if (!category) return 'Not in any category';
  const label = config.policy.categoryLabels[category];
  if (label) return label;
  const words = category.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** What the rule id means, in a sentence fragment. */
export function ruleDescription(rule: string): string {
  if (rule === 'local-deny') return "the organisation's own list of sites that are not allowed";
  if (rule === 'local-allow') return "the organisation's own list of allowed sites";
  if (rule === 'default') return 'the default rule of the policy';
  if (rule === 'software-download') return 'the rule on downloading software';
  if (rule === 'virus') return 'the virus check on downloads';
  if (rule === 'virus-scan-failed') return 'the virus check on downloads (the scanner could not check the file)';
  if (rule === 'large-upload') return 'the rule on sending large files';
  if (rule === 'aup') return 'the acceptable-use statement has not been accepted yet';
  if (rule.startsWith('exception:')) return 'an exception a director approved';
  const m = /^rule:(\d+)$/.exec(rule);
  if (m) return `rule ${m[1]} of the internet policy`;
  return rule ? `rule "${rule}"` : 'the internet policy';
}
