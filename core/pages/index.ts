// Staff-facing pages: pure functions from data to { status, html, csp }. Served by the proxy (block,
// warning, gate pages) and by the console (statement, sign-in, requests, transparency).
export { escapeHtml, html, raw, safeHref, Html } from './html.ts';
export { layout, pageHeaders, buildCsp, STAFF_CSS_PATH, type Page } from './layout.ts';
export { PAGE_CSS, PAGE_CSS_HASH } from './style.ts';
export { siteFromConfig, consoleUrlFromConfig, staffUrl, formatWhen, originOf, STAFF_PATHS, type Site } from './site.ts';
export { categoryLabel, ruleDescription } from './words.ts';
export { blockPage, aupRequiredPage, signInRequiredPage, displayUrl, type BlockPageInput, type GatePageInput } from './block.ts';
export { warnPage, type WarnPageInput } from './warn.ts';
export { aupPage, aupAcceptedPage } from './aup.ts';
export { signInPage, signedInPage, signedOutPage } from './sign-in.ts';
export { exceptionFormPage, accidentFormPage, requestSentPage, problemPage, REASON_MAX } from './requests.ts';
export { transparencyPage } from './transparency.ts';
export { shortBlockPage } from './short.ts';
export { StaffPages, type PageEvent } from './staff-pages.ts';
