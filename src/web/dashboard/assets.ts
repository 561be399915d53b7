/**
 * The dashboard's stylesheet and its one small script, served from the package itself
 * (no CDN). The script only enhances: pages work without it. It follows the page's live
 * stream (SSE) and swaps in the fragments the server renders, and ticks "select all".
 */
/** Bar heights as classes (`.h0` to `.h100`, in %): the CSP forbids inline style attributes. */
const HEIGHTS = Array.from({ length: 101 }, (_, n) => `.h${n}{height:${n}%}`).join('');

export const DASHBOARD_CSS = `${HEIGHTS}
:root{--fg:#1d2330;--muted:#5b6474;--line:#d9dde5;--bg:#f7f8fa;--ok:#1b7f3b;--bad:#b42318;--warn:#a15c00;--run:#1c5fb8}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:#fff;border-bottom:1px solid var(--line)}
nav{display:flex;gap:1rem}nav a{color:var(--muted);text-decoration:none}nav a[aria-current]{color:var(--fg);font-weight:600}
main{padding:1rem 1.2rem;max-width:1400px}h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase}td code{font-size:12px}
.state{font-weight:600;font-size:12px;padding:.1rem .4rem;border-radius:3px;background:#eef0f4}
.state-SUCCESS{color:var(--ok)}.state-FAILURE{color:var(--bad)}.state-RETRY{color:var(--warn)}.state-STARTED,.state-PROGRESS,.state-RECEIVED{color:var(--run)}.state-REVOKED{color:var(--muted)}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:1rem}form.filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}
input,select,textarea,button{font:inherit}input,select,textarea{padding:.25rem .4rem;border:1px solid var(--line);border-radius:3px;background:#fff}
button{padding:.3rem .7rem;border:1px solid #9aa3b2;border-radius:3px;background:#fff;cursor:pointer}button.danger{border-color:var(--bad);color:var(--bad)}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin-bottom:1rem}.card{background:#fff;border:1px solid var(--line);padding:.6rem .9rem;min-width:120px}.card b{display:block;font-size:1.4rem}
.chart{display:flex;gap:3px;align-items:end;height:120px;background:#fff;border:1px solid var(--line);padding:.5rem}.chart .bar{flex:1;display:flex;flex-direction:column-reverse;min-width:8px}
.chart .ok{background:#7cc495}.chart .bad{background:#e58b84}.muted{color:var(--muted)}.actions{display:flex;gap:.5rem;flex-wrap:wrap;margin:.6rem 0}
pre{background:#fff;border:1px solid var(--line);padding:.6rem;overflow:auto;max-height:24rem}.badge{font-size:12px;background:#eef0f4;padding:.1rem .4rem}
form.operate{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;font-size:12px}.operate-row td{background:#fafbfc}
ul.tree,ol.timeline{background:#fff;border:1px solid var(--line);padding:.5rem .5rem .5rem 1.8rem}
.live-status{font-size:12px;color:var(--ok)}.pager{margin:.8rem 0}.error{color:var(--bad)}dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:var(--muted)}dd{margin:0}
`;

export const DASHBOARD_JS = `
(function(){
  var body=document.body, url=body.getAttribute('data-live');
  document.addEventListener('change',function(e){
    var t=e.target; if(!t||t.id!=='select-all')return;
    document.querySelectorAll('input[name=id]').forEach(function(box){box.checked=t.checked});
  });
  if(!url||!window.EventSource)return;
  var status=document.getElementById('live-status'), source=new EventSource(url);
  source.addEventListener('open',function(){if(status)status.hidden=false});
  source.addEventListener('error',function(){if(status)status.hidden=true});
  source.addEventListener('fragment',function(e){
    var data=JSON.parse(e.data), target=document.getElementById(data.target);
    if(!target)return;
    // Never swap a form away while someone uses it (focus inside, or a field they changed):
    // the next change after they leave it brings the page up to date.
    var active=document.activeElement;
    if(active&&active!==body&&target.contains(active))return;
    var edited=Array.prototype.some.call(target.querySelectorAll('input,textarea'),function(f){
      return (f.type==='checkbox'||f.type==='radio')?f.checked!==f.defaultChecked:f.value!==f.defaultValue;
    });
    if(edited)return;
    target.innerHTML=data.html;
    body.setAttribute('data-updated',String(Date.now()));
  });
})();
`;
