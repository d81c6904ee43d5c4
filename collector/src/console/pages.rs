//! The console's HTML: rendered whole on the server (a page is readable without scripts), then
//! kept current by a small script that reads the event stream. No external files: a gateway on a
//! plant network often has no internet.

use std::fmt::Write as _;

use super::i18n::Lang;
use super::view::{DeviceView, Letter, Snapshot, SourceView};

const STYLE: &str = "body{font:14px/1.45 system-ui,'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:0;color:#1b1b1b;background:#fafafa}\
header{background:#17324d;color:#fff;padding:.6em 1.2em;display:flex;gap:1.4em;align-items:baseline}\
header a{color:#fff}header h1{font-size:1.1em;margin:0 1em 0 0}main{padding:1em 1.2em}\
table{border-collapse:collapse;background:#fff;margin:.4em 0 1.2em}th,td{border:1px solid #ccd;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#11692b}.failing{color:#b00020;font-weight:600}.waiting{color:#666}\
code,pre,textarea,.gutter{font:13px/1.45 ui-monospace,monospace}.problems li{color:#b00020}\
.editor{display:flex;height:32em;border:1px solid #ccd;background:#fff}.gutter-wrap{overflow:hidden;min-width:3.2em}.gutter{text-align:right;color:#888;padding:.3em .4em;user-select:none}\
.gutter .bad{background:#b00020;color:#fff}.editor textarea{flex:1;border:0;padding:.3em;resize:none;white-space:pre;overflow:auto}textarea{width:100%}.note{color:#555}";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The page frame: title, navigation, language switch.
fn frame(lang: Lang, title: &str, body: &str, script: &str) -> String {
    let t = |k| lang.t(k);
    format!(
        "<!doctype html><html lang=\"{code}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title} · {app}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head>\
         <body><header><h1>{app}</h1><a href=\"/\">{overview}</a><a href=\"/dead-letters\">{dead}</a><a href=\"/config\">{config}</a><a href=\"/try\">{try_}</a><a href=\"/discover\">{discover}</a><a href=\"?lang={other}\" id=\"lang\">{switch}</a></header>\
         <main>{body}</main><script>{script}</script></body></html>",
        code = lang.code(),
        title = esc(title),
        app = t("title"),
        overview = t("overview"),
        dead = t("dead_letters"),
        config = t("config"),
        try_ = t("try"),
        discover = t("discover"),
        other = lang.other().code(),
        switch = t("switch"),
    )
}

/// The words a script needs, as a JSON object.
fn words(lang: Lang, keys: &[&'static str]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = keys.iter().map(|k| ((*k).to_owned(), serde_json::Value::from(lang.t(k)))).collect();
    serde_json::Value::Object(map).to_string()
}

/// The columns [`source_cells`] fills, by word key.
const SOURCE_COLUMNS: &[&str] = &["state", "last_reading", "good", "flagged", "missing", "latency", "failures"];

/// Header cells with the words of `keys`.
fn headers(lang: Lang, keys: &[&'static str]) -> String {
    keys.iter().map(|k| format!("<th>{}</th>", lang.t(k))).collect()
}

fn source_cells(lang: Lang, s: &SourceView) -> String {
    format!(
        "<td data-k=\"state\" class=\"{state}\">{state_text}</td><td data-k=\"last_reading\">{last}</td><td class=\"n\" data-k=\"good\">{good}</td><td class=\"n\" data-k=\"flagged\">{flagged}</td>\
         <td class=\"n\" data-k=\"missing\">{missing}</td><td class=\"n\" data-k=\"latency_ms\">{latency}</td><td data-k=\"failures\">{failures}</td>",
        state = s.state,
        state_text = lang.t(s.state),
        last = esc(s.last_reading.as_deref().unwrap_or("–")),
        good = s.good,
        flagged = s.flagged,
        missing = s.missing,
        latency = s.latency_ms.map_or("–".to_owned(), |l| format!("{l} ms")),
        failures = esc(if s.failures.is_empty() { lang.t("none") } else { &s.failures }),
    )
}

const LIVE_SOURCES: &str = "function cell(row,k,v,w){const c=row.querySelector('[data-k=\"'+k+'\"]');if(!c)return;\
if(k==='state'){c.className=v;c.textContent=w[v]||v;}else if(k==='latency_ms'){c.textContent=v==null?'–':v+' ms';}\
else if(k==='failures'){c.textContent=v||w.none;}else{c.textContent=v==null?'–':v;}}\
function sources(list,w){for(const s of list){const row=document.querySelector('tr[data-source=\"'+CSS.escape(s.name)+'\"]');if(!row)continue;\
for(const k of ['state','last_reading','good','flagged','missing','latency_ms','failures'])cell(row,k,s[k],w);}}";

fn mqtt_meter_rows(meters: &[super::view::MqttMeterView]) -> String {
    meters
        .iter()
        .map(|m| format!("<tr data-mqtt=\"{n}\"><td>{n}</td><td>{}</td><td>{}</td></tr>", esc(m.last_reading.as_deref().unwrap_or("–")), esc(&m.values), n = esc(&m.name)))
        .collect()
}

/// The overview: every source with its state and counts, the journal and the sinks.
pub fn overview(lang: Lang, s: &Snapshot) -> String {
    let t = |k| lang.t(k);
    let mut body = String::new();
    let _ = write!(body, "<p class=\"note\">{}</p>", t("live"));
    let _ = write!(
        body,
        "<h2>{}</h2><p id=\"health\">{}</p>",
        t("health"),
        if s.problems.is_empty() { format!("<span class=\"ok\">{}</span>", t("healthy")) } else { s.problems.iter().map(|p| format!("<span class=\"failing\">{}</span>", esc(p))).collect::<Vec<_>>().join("<br>") }
    );
    let _ = write!(body, "<h2>{}</h2><table id=\"sources\"><tr>{}{}</tr>", t("sources"), headers(lang, &["name", "protocol", "endpoint", "interval"]), headers(lang, SOURCE_COLUMNS));
    for src in &s.sources {
        let _ = write!(
            body,
            "<tr data-source=\"{n}\"><td><a href=\"/device/{u}\">{n}</a></td><td>{p}</td><td>{e}</td><td>{i}</td>{cells}</tr>",
            n = esc(&src.name),
            u = esc(&urlencode(&src.name)),
            p = src.protocol,
            e = esc(&src.endpoint),
            i = esc(&src.interval),
            cells = source_cells(lang, src)
        );
    }
    body.push_str("</table>");
    if let Some(m) = &s.mqtt {
        let _ = write!(
            body,
            "<h2>{}</h2><table id=\"mqtt\"><tr><th>{}</th><th>{}</th><th>{}</th></tr><tr><td data-k=\"connected\">{}</td><td class=\"n\" data-k=\"messages\">{}</td><td class=\"n\" data-k=\"dead_lettered\">{}</td></tr></table>",
            t("mqtt"),
            t("state"),
            t("messages"),
            t("dead_letters"),
            if m.connected { t("connected") } else { t("disconnected") },
            m.messages,
            m.dead_lettered
        );
        let _ = write!(body, "<table id=\"subscriptions\"><tr><th>{}</th><th>{}</th></tr>", t("topic"), t("meter_pattern"));
        for (topic, meter) in &s.subscriptions {
            let _ = write!(body, "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>", esc(topic), esc(meter));
        }
        let _ = write!(body, "</table><table id=\"mqtt_meters\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>", t("name"), t("last_reading"), t("value"), mqtt_meter_rows(&s.mqtt_meters));
    }
    let _ = write!(
        body,
        "<h2>{}</h2><table><tr><th>{}</th><th>{}</th></tr><tr><td class=\"n\" id=\"journal_bytes\">{} B</td><td class=\"n\" id=\"undelivered\">{}</td></tr></table>",
        t("journal"),
        t("journal_bytes"),
        t("undelivered"),
        s.journal_bytes,
        s.undelivered
    );
    let _ = write!(body, "<h2>{}</h2><table id=\"sinks\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t("sinks"), t("name"), t("sink_lag"), t("delivered"), t("retries"));
    for k in &s.sinks {
        let _ = write!(body, "<tr data-sink=\"{n}\"><td>{n}</td><td class=\"n\" data-k=\"lag\">{}</td><td class=\"n\" data-k=\"delivered\">{}</td><td class=\"n\" data-k=\"failures\">{}</td></tr>", k.lag, k.delivered, k.failures, n = esc(&k.name));
    }
    body.push_str("</table>");
    let script = format!(
        "const W={w};{LIVE_SOURCES}\
         const es=new EventSource('/events');es.onmessage=e=>{{const s=JSON.parse(e.data);sources(s.sources,W);\
         document.getElementById('journal_bytes').textContent=s.journal_bytes+' B';document.getElementById('undelivered').textContent=s.undelivered;\
         for(const k of s.sinks){{const r=document.querySelector('tr[data-sink=\"'+CSS.escape(k.name)+'\"]');if(!r)continue;for(const f of ['lag','delivered','failures'])r.querySelector('[data-k=\"'+f+'\"]').textContent=k[f];}}\
         function esc(t){{return String(t).replace(/[&<>\"']/g,c=>'&#'+c.charCodeAt(0)+';');}}\
         const mm=document.querySelector('#mqtt_meters tbody');if(mm)mm.innerHTML=s.mqtt_meters.map(m=>'<tr data-mqtt=\"'+esc(m.name)+'\"><td>'+esc(m.name)+'</td><td>'+esc(m.last_reading||'–')+'</td><td>'+esc(m.values)+'</td></tr>').join('');\
         if(s.mqtt){{const m=document.getElementById('mqtt');if(m){{m.querySelector('[data-k=\"connected\"]').textContent=s.mqtt.connected?W.connected:W.disconnected;m.querySelector('[data-k=\"messages\"]').textContent=s.mqtt.messages;m.querySelector('[data-k=\"dead_lettered\"]').textContent=s.mqtt.dead_lettered;}}}}}};",
        w = words(lang, &["ok", "failing", "waiting", "none", "connected", "disconnected"])
    );
    frame(lang, lang.t("overview"), &body, &script)
}

fn point_rows(d: &DeviceView) -> String {
    let mut rows = String::new();
    for p in &d.points {
        let orders = p.orders.iter().map(|(o, v)| format!("{o}: {v}")).collect::<Vec<_>>().join("<br>");
        let _ = write!(
            rows,
            "<tr data-point=\"{q}\"><td>{q}</td><td class=\"n\" data-k=\"value\">{v}</td><td data-k=\"unit\">{u}</td><td data-k=\"quality\">{ql}</td><td data-k=\"time\">{t}</td><td data-k=\"raw\"><code>{r}</code></td><td data-k=\"orders\">{orders}</td></tr>",
            q = esc(&p.quantity),
            v = p.value.map_or("–".to_owned(), |v| v.to_string()),
            u = esc(p.unit),
            ql = esc(p.quality),
            t = esc(&p.time),
            r = esc(p.raw.as_deref().unwrap_or("–")),
        );
    }
    rows
}

/// A device: its state, its points live with their raw registers or frames, and its requests.
pub fn device(lang: Lang, d: &DeviceView) -> String {
    let t = |k| lang.t(k);
    let s = &d.source;
    let mut body = String::new();
    let _ = write!(body, "<h2>{} · {}</h2><p>{} · {} · {}</p>", esc(&s.name), s.protocol, esc(&s.endpoint), t("interval"), esc(&s.interval));
    let _ = write!(body, "<table id=\"source\"><tr>{}</tr><tr data-source=\"{}\">{}</tr></table>", headers(lang, SOURCE_COLUMNS), esc(&s.name), source_cells(lang, s));
    let _ = write!(
        body,
        "<h2>{}</h2><p class=\"note\">{}</p><table id=\"points\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        t("points"),
        t("live"),
        t("quantity"),
        t("value"),
        t("unit"),
        t("quality"),
        t("time"),
        t("raw"),
        t("orders"),
        point_rows(d)
    );
    let _ = write!(body, "<h2>{}</h2><ul id=\"requests\">", t("requests"));
    for r in &d.requests {
        let _ = write!(body, "<li><code>{}</code></li>", esc(r));
    }
    body.push_str("</ul>");
    if let Some(share) = d.line_share {
        let _ = write!(body, "<p>{}: <span id=\"line_share\">{:.1} %</span></p>", t("line_share"), share * 100.0);
    }
    let script = format!(
        "const W={w};{LIVE_SOURCES}\
         function esc(s){{return String(s).replace(/[&<>\"']/g,c=>'&#'+c.charCodeAt(0)+';');}}\
         const es=new EventSource('/events?device='+encodeURIComponent({name}));es.onmessage=e=>{{const d=JSON.parse(e.data);if(!d.source)return;sources([d.source],W);\
         document.querySelector('#points tbody').innerHTML=d.points.map(p=>'<tr data-point=\"'+esc(p.quantity)+'\"><td>'+esc(p.quantity)+'</td><td class=\"n\" data-k=\"value\">'+(p.value==null?'–':p.value)+\
         '</td><td data-k=\"unit\">'+esc(p.unit)+'</td><td data-k=\"quality\">'+esc(p.quality)+'</td><td data-k=\"time\">'+esc(p.time)+'</td><td data-k=\"raw\"><code>'+esc(p.raw||'–')+\
         '</code></td><td data-k=\"orders\">'+p.orders.map(o=>esc(o[0])+': '+o[1]).join('<br>')+'</td></tr>').join('');}};",
        w = words(lang, &["ok", "failing", "waiting", "none"]),
        name = serde_json::Value::from(s.name.as_str())
    );
    frame(lang, &s.name, &body, &script)
}

/// The latest dead letters.
pub fn dead_letters(lang: Lang, letters: &[Letter]) -> String {
    let t = |k| lang.t(k);
    let mut body = format!("<h2>{}</h2><table id=\"letters\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>", t("dead_letters"), t("time"), t("reason"), t("endpoint"), t("file"));
    for l in letters {
        let _ = write!(body, "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>", esc(&l.time), esc(&l.reason), esc(&l.what), esc(&l.file));
    }
    body.push_str("</table>");
    if letters.is_empty() {
        let _ = write!(body, "<p>{}</p>", t("none"));
    }
    frame(lang, t("dead_letters"), &body, "")
}

/// The running config in an editor, with check and apply.
pub fn config(lang: Lang, file: &str, text: &str) -> String {
    let t = |k| lang.t(k);
    let lines = text.lines().count().max(1);
    let gutter: String = (1..=lines + 20).map(|n| format!("<div data-line=\"{n}\">{n}</div>")).collect();
    let body = format!(
        "<h2>{title}</h2><p><code>{file}</code></p><p><button id=\"check\">{check}</button> <button id=\"apply\">{apply}</button> <span id=\"outcome\"></span></p>\
         <ol class=\"problems\" id=\"problems\"></ol><div class=\"editor\"><div class=\"gutter-wrap\"><div class=\"gutter\" id=\"gutter\">{gutter}</div></div><textarea id=\"text\" spellcheck=\"false\" wrap=\"off\">{text}</textarea></div>",
        title = t("config"),
        file = esc(file),
        check = t("check"),
        apply = t("apply"),
        text = esc(text),
    );
    let script = format!(
        "const W={w};const ta=document.getElementById('text');\
         function show(r){{const list=document.getElementById('problems');list.innerHTML='';document.querySelectorAll('#gutter .bad').forEach(g=>g.classList.remove('bad'));\
         for(const p of (r.problems||[])){{const li=document.createElement('li');li.dataset.line=p.line||'';li.textContent=(p.line?W.line+' '+p.line+': ':'')+(p.key?p.key+': ':'')+p.message;list.appendChild(li);\
         if(p.line){{const g=document.querySelector('#gutter [data-line=\"'+p.line+'\"]');if(g)g.classList.add('bad');}}}}\
         document.getElementById('outcome').textContent=r.ok?(r.outcome?W.applied+': '+r.outcome:W.config_ok):(r.outcome||'');\
         const first=(r.problems||[]).find(p=>p.line);if(first){{const lh=parseFloat(getComputedStyle(ta).lineHeight)||19;ta.scrollTop=Math.max(0,(first.line-4)*lh);ta.onscroll();}}}}\
         async function send(path){{const res=await fetch(path,{{method:'POST',headers:{{'Content-Type':'application/json','X-Console':'1'}},body:JSON.stringify({{text:ta.value}})}});\
         let r;try{{r=await res.json();}}catch(e){{r={{ok:false,outcome:res.status+' '+res.statusText}};}}show(r);}}\
         document.getElementById('check').onclick=()=>send('/api/check');document.getElementById('apply').onclick=()=>send('/api/apply');\
         ta.onscroll=()=>{{document.getElementById('gutter').style.marginTop=(-ta.scrollTop)+'px';}};\
         ta.oninput=()=>{{const n=ta.value.split('\\n').length+20,g=document.getElementById('gutter');for(let i=g.children.length+1;i<=n;i++){{const d=document.createElement('div');d.dataset.line=i;d.textContent=i;g.appendChild(d);}}}};ta.oninput();",
        w = words(lang, &["line", "applied", "config_ok"])
    );
    frame(lang, t("config"), &body, &script)
}

/// The try-a-point form: an open line or a TCP address, a unit, a register and a type; the
/// answer in every word order.
pub fn try_point(lang: Lang, endpoints: &[String]) -> String {
    let t = |k| lang.t(k);
    let options: String = endpoints.iter().map(|e| format!("<option>{}</option>", esc(e))).collect();
    let types: String = ["u16", "i16", "u32", "i32", "f32", "u64", "i64", "f64"].iter().map(|d| format!("<option>{d}</option>")).collect();
    let body = format!(
        "<h2>{title}</h2><p class=\"note\">{note}</p><form id=\"try\"><table>\
         <tr><th>{endpoint}</th><td><input name=\"endpoint\" list=\"endpoints\" size=\"40\" placeholder=\"10.0.0.7:502\"><datalist id=\"endpoints\">{options}</datalist></td></tr>\
         <tr><th>{unit}</th><td><input name=\"unit\" type=\"number\" min=\"0\" max=\"255\" value=\"1\"></td></tr>\
         <tr><th>{function}</th><td><select name=\"function\"><option>holding</option><option>input</option></select></td></tr>\
         <tr><th>{address}</th><td><input name=\"address\" type=\"number\" min=\"0\" max=\"65535\" value=\"0\"></td></tr>\
         <tr><th>{data_type}</th><td><select name=\"type\">{types}</select></td></tr>\
         <tr><th>{scale}</th><td><input name=\"scale\" value=\"1\"></td></tr></table><button id=\"read\">{read}</button></form>\
         <p id=\"error\" class=\"failing\"></p><p>{words}: <code id=\"words\"></code></p><table id=\"values\"><tr><th>{order}</th><th>{value}</th></tr></table>",
        title = t("try"),
        note = t("try_note"),
        endpoint = t("endpoint"),
        unit = t("unit_id"),
        function = t("function"),
        address = t("address"),
        data_type = t("data_type"),
        scale = t("scale"),
        read = t("read"),
        words = t("words"),
        order = t("order"),
        value = t("value"),
    );
    let script = "document.getElementById('try').onsubmit=async e=>{e.preventDefault();const f=new FormData(e.target);\
        const ask={endpoint:f.get('endpoint'),unit:Number(f.get('unit')),function:f.get('function'),address:Number(f.get('address')),type:f.get('type'),scale:Number(f.get('scale'))};\
        const r=await (await fetch('/api/read',{method:'POST',headers:{'Content-Type':'application/json','X-Console':'1'},body:JSON.stringify(ask)})).json();\
        document.getElementById('error').textContent=r.error||'';document.getElementById('words').textContent=r.words.join(' ');\
        const tb=document.getElementById('values');tb.querySelectorAll('tr[data-order]').forEach(x=>x.remove());\
        for(const [o,v] of r.values){const tr=document.createElement('tr');tr.dataset.order=o;tr.innerHTML='<td>'+o+'</td><td class=\"n\">'+v+'</td>';tb.appendChild(tr);}};";
    frame(lang, t("try"), &body, script)
}

/// Discovery: scan a line the collector does not poll, then copy the config it prints.
pub fn discover(lang: Lang) -> String {
    let t = |k| lang.t(k);
    let body = format!(
        "<h2>{title}</h2><p class=\"note\">{note}</p><form id=\"scan\"><table>\
         <tr><th>{serial}</th><td><input name=\"device\" placeholder=\"/dev/ttyUSB1\"> {baud} <input name=\"baud\" type=\"number\" value=\"9600\" size=\"7\"> {parity} <select name=\"parity\"><option>even</option><option>none</option><option>odd</option></select></td></tr>\
         <tr><th>{server}</th><td><input name=\"host\" placeholder=\"10.0.0.7\"> : <input name=\"port\" type=\"number\" size=\"6\"></td></tr>\
         <tr><th>{units}</th><td><input name=\"units\" value=\"1-247\"></td></tr><tr><th>{timeout}</th><td><input name=\"timeout_ms\" type=\"number\" value=\"200\"></td></tr>\
         <tr><th>{protocols}</th><td><label><input type=\"checkbox\" name=\"protocols\" value=\"modbus\" checked> Modbus</label> <label><input type=\"checkbox\" name=\"protocols\" value=\"dlt645\" checked> DL/T 645</label> <label><input type=\"checkbox\" name=\"protocols\" value=\"cjt188\" checked> CJ/T 188</label></td></tr>\
         </table><button id=\"start\">{scan}</button></form><p id=\"error\" class=\"failing\"></p><pre id=\"progress\"></pre><h3>{found}</h3><pre id=\"summary\"></pre><p>{snippet_label}</p><textarea id=\"snippet\" readonly style=\"height:16em\"></textarea>",
        title = t("discover"),
        note = t("discover_note"),
        serial = t("serial_port"),
        baud = t("baud"),
        parity = t("parity"),
        server = t("or_server"),
        units = t("units"),
        timeout = t("timeout"),
        protocols = t("protocols"),
        scan = t("scan"),
        found = t("found"),
        snippet_label = t("snippet"),
    );
    let script = "const $=id=>document.getElementById(id);\
        $('scan').onsubmit=async e=>{e.preventDefault();const f=new FormData(e.target);$('error').textContent='';$('progress').textContent='';$('summary').textContent='';$('snippet').value='';\
        const ask={device:f.get('device')||null,baud:Number(f.get('baud')),parity:f.get('parity'),host:f.get('host')||null,port:f.get('port')?Number(f.get('port')):null,units:f.get('units'),timeout_ms:Number(f.get('timeout_ms')),protocols:f.getAll('protocols')};\
        const r=await (await fetch('/api/scan',{method:'POST',headers:{'Content-Type':'application/json','X-Console':'1'},body:JSON.stringify(ask)})).json();\
        if(r.error){$('error').textContent=r.error;return;}\
        const poll=async()=>{const j=await (await fetch('/api/scan/'+r.id)).json();$('progress').textContent=j.progress.join('\\n');\
        if(!j.done){setTimeout(poll,500);return;}$('error').textContent=j.error||'';$('summary').textContent=j.summary||'';$('snippet').value=j.snippet||'';};poll();};";
    frame(lang, t("discover"), &body, script)
}

/// The sign-in page (only when the console has a token).
pub fn login(lang: Lang, failed: bool) -> String {
    let t = |k| lang.t(k);
    let body = format!(
        "<h2>{}</h2>{}<form method=\"post\" action=\"/login\"><label>{} <input type=\"password\" name=\"token\" autofocus></label> <button>{}</button></form>",
        t("login"),
        if failed { "<p class=\"failing\">✗</p>" } else { "" },
        t("token"),
        t("login")
    );
    frame(lang, t("login"), &body, "")
}

/// A device nobody configured.
pub fn not_found(lang: Lang, name: &str) -> String {
    frame(lang, name, &format!("<h2>{}</h2><p>{}</p>", esc(name), lang.t("none")), "")
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_names_encoded() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(urlencode("pump 1/ä"), "pump%201%2F%C3%A4");
    }
}
