import { createHash } from 'node:crypto';

// The one stylesheet of every staff page, inlined in a <style> element and allowed by its hash in
// the Content-Security-Policy (no 'unsafe-inline', no style attributes). Colours meet WCAG AA:
// body text #1b1b1b on #ffffff is 17:1, links #0b4f9c on white 8:1, button text white on #0b4f9c
// 8:1, the warning band #6b4400 on #fff4d6 is 7.9:1, the block band #8a1c1c on #fdecec 7.5:1.

export const PAGE_CSS = `
*{box-sizing:border-box}
html{font-size:100%;-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;line-height:1.5;color:#1b1b1b;background:#fff}
header.org{display:flex;align-items:center;gap:.75rem;padding:.75rem 1rem;border-bottom:1px solid #c8c8c8;background:#f4f4f4}
header.org img{max-height:2.5rem;max-width:10rem}
header.org .name{font-weight:600;font-size:1.05rem}
main{max-width:42rem;margin:0 auto;padding:1rem 1rem 2rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
.band{padding:.75rem 1rem;border-left:.4rem solid;margin:0 0 1rem}
.band.block{background:#fdecec;border-color:#8a1c1c;color:#8a1c1c}
.band.warn{background:#fff4d6;border-color:#6b4400;color:#6b4400}
.band.ok{background:#e8f5e9;border-color:#1b5e20;color:#1b5e20}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:0 0 1.25rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
blockquote{margin:0 0 1rem;padding:.5rem 1rem;border-left:.25rem solid #555;background:#f7f7f7}
a{color:#0b4f9c}
a:focus,button:focus,input:focus,textarea:focus{outline:3px solid #ffbf47;outline-offset:2px}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.25rem 0}
.button,button{display:inline-block;padding:.65rem 1.1rem;font:inherit;font-weight:600;color:#fff;background:#0b4f9c;border:2px solid #0b4f9c;border-radius:.3rem;text-decoration:none;cursor:pointer}
.button.secondary,button.secondary{color:#0b4f9c;background:#fff}
label{display:block;font-weight:600;margin:1rem 0 .3rem}
input[type=text],input[type=password],textarea{width:100%;padding:.5rem;font:inherit;border:2px solid #1b1b1b;border-radius:.2rem}
textarea{min-height:7rem}
.hint{color:#4a4a4a;font-size:.95rem;margin:.2rem 0}
.providers{display:flex;flex-direction:column;gap:.6rem;margin:1.25rem 0 1rem}
.error{color:#8a1c1c;font-weight:600}
table{border-collapse:collapse;width:100%;margin:0 0 1rem}
th,td{text-align:left;border-bottom:1px solid #c8c8c8;padding:.35rem .5rem;vertical-align:top}
footer{max-width:42rem;margin:0 auto;padding:1rem;border-top:1px solid #c8c8c8;font-size:.95rem}
footer a{margin-right:1rem}
@media (max-width:30rem){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}h1{font-size:1.35rem}}
`.trim();

export const PAGE_CSS_HASH = `sha256-${createHash('sha256').update(PAGE_CSS).digest('base64')}`;
