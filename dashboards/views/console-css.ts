import { PAGE_CSS } from '../../core/pages/style.ts';

// The console's sheet is the staff pages' sheet (core/pages/style.ts) plus what only the console
// has: the navigation bar, wide tables, overview cards, health badges, report figures and print
// rules. Colours keep WCAG AA contrast: badge text white on #1b5e20 (7.9:1), #6b4400 (8.6:1),
// #8a1c1c (8.9:1), #4a4a4a (8.9:1); nav text white on #1d3557 (12:1).

const CONSOLE_EXTRA = `
header.console{flex-wrap:wrap;background:#1d3557;color:#fff;border-bottom:0}
header.console a{color:#fff}
header.console .name{margin-right:1rem;text-decoration:none}
header.console nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;flex:1 1 auto;align-items:center}
header.console nav a{padding:.2rem 0}
header.console nav a[aria-current=page]{font-weight:700;text-decoration-thickness:3px}
header.console .who{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
header.console button{padding:.3rem .8rem;background:#fff;color:#1d3557;border-color:#fff}
a.pending{background:#6b4400;color:#fff;padding:.1rem .5rem;border-radius:.3rem;text-decoration:none;font-weight:600}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;color:#0b4f9c;padding:.5rem;z-index:1}
main.console{max-width:75rem}
main.console.narrow{max-width:42rem}
h2{font-size:1.25rem;margin:1.5rem 0 .6rem}
input:not([type]),input[type=email],input[type=number],input[type=url],input[type=search],select{width:100%;max-width:32rem;padding:.5rem;font:inherit;border:2px solid #1b1b1b;border-radius:.2rem;background:#fff;color:#1b1b1b}
input[type=text],input[type=password],textarea{max-width:32rem}
input[type=file]{display:block;max-width:100%;margin:.2rem 0 .6rem}
textarea{display:block;width:100%;padding:.5rem;margin:0 0 .6rem;font:inherit;border:2px solid #1b1b1b;border-radius:.2rem}
textarea#p-csv{font-family:ui-monospace,monospace}
ul.problems{color:#8a1c1c;border-left:.4rem solid #8a1c1c;padding:.4rem 1rem .4rem 2rem;background:#fdecec}
td.link{display:table-cell}
input[type=checkbox],input[type=radio]{width:1.2rem;height:1.2rem;vertical-align:middle;margin-right:.4rem}
label.check{font-weight:400}
select:focus{outline:3px solid #ffbf47;outline-offset:2px}
form{margin:0 0 1rem}
form.inline{display:inline}
td form{margin:.3rem 0}
td label{margin:.3rem 0 .2rem}
td button{padding:.35rem .8rem}
button.danger{background:#8a1c1c;border-color:#8a1c1c}
p.ok,p.error{padding:.6rem 1rem;border-left:.4rem solid;font-weight:600}
p.ok{background:#e8f5e9;border-color:#1b5e20;color:#1b5e20}
p.error{background:#fdecec;border-color:#8a1c1c;color:#8a1c1c}
thead th{background:#f4f4f4}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
pre.document{white-space:pre-wrap;overflow-wrap:anywhere;background:#fafafa;border:1px solid #ddd;padding:1rem;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:1rem;margin:0 0 1rem}
.card{border:1px solid #c8c8c8;border-radius:.4rem;padding:.5rem 1rem 1rem;background:#fff}
.card.wide{grid-column:1/-1}
.card h2{margin-top:.5rem}
.big{font-size:2rem;font-weight:700;margin:.2rem 0 .5rem}
ul.health{list-style:none;padding:0;margin:0 0 1rem}
ul.health li{padding:.35rem 0;border-bottom:1px solid #e4e4e4}
.badge{display:inline-block;min-width:5rem;text-align:center;padding:.05rem .4rem;border-radius:.25rem;color:#fff;font-size:.9rem;font-weight:600;background:#4a4a4a}
.lvl-ok .badge{background:#1b5e20}.lvl-warn .badge{background:#6b4400}.lvl-bad .badge{background:#8a1c1c}
dl.summary{display:grid;grid-template-columns:repeat(auto-fit,minmax(13rem,1fr));gap:.5rem 1rem;margin:0 0 1.5rem}
dl.summary div{border:1px solid #c8c8c8;border-radius:.3rem;padding:.5rem .75rem}
dl.summary dt{font-size:.9rem;color:#4a4a4a}
dl.summary dd{margin:0;font-size:1.35rem;font-weight:700;overflow-wrap:anywhere}
figure.chart{margin:0 0 1.5rem;overflow-x:auto}
figure.chart svg{max-width:100%;height:auto}
.downloads{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:flex-end}
.downloads form{margin:0}
.link{display:block;padding:.5rem;background:#f4f4f4;border:1px solid #c8c8c8;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
@media (max-width:40rem){main.console{padding:.75rem}header.console nav{gap:.25rem .75rem}.big{font-size:1.6rem}main table{display:block;overflow-x:auto}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}table.stack thead{display:none}table.stack tr{border-bottom:2px solid #1b1b1b;padding:.5rem 0}table.stack td{border:0;padding:.15rem 0}}
@media print{header.console,.no-print,form,.skip{display:none!important}main.console{max-width:none;padding:0}a{color:#1b1b1b;text-decoration:none}
.card,dl.summary div,figure.chart,tr{break-inside:avoid}table{font-size:.85rem}h2{break-after:avoid}}
`.trim();

export const CONSOLE_CSS = `${PAGE_CSS}\n${CONSOLE_EXTRA}`;
