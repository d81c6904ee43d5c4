//! The console's words in English and Chinese: the browser's language chooses, a link on every
//! page switches (and a cookie remembers).

/// A language the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// From `?lang=`, the `lang` cookie, then `Accept-Language` (the first of zh or en named).
    pub fn choose(query: Option<&str>, cookie: Option<&str>, accept: Option<&str>) -> Lang {
        let parse = |s: &str| match s.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("zh") => Some(Lang::Zh),
            Some("en") => Some(Lang::En),
            _ => None,
        };
        query
            .and_then(parse)
            .or_else(|| cookie.and_then(parse))
            .or_else(|| accept.and_then(|a| a.split(',').find_map(|part| parse(part.split(';').next().unwrap_or("")))))
            .unwrap_or(Lang::En)
    }

    /// The code used in `lang=` and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The other language, for the switch link.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }

    /// The text of `key`; the key itself when a word is missing (a test checks none is).
    pub fn t(self, key: &'static str) -> &'static str {
        let pair = WORDS.iter().find(|(k, _, _)| *k == key);
        match (self, pair) {
            (Lang::En, Some((_, en, _))) => en,
            (Lang::Zh, Some((_, _, zh))) => zh,
            (_, None) => key,
        }
    }
}

/// Key, English, Chinese.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("title", "Gateway console", "网关控制台"),
    ("switch", "中文", "English"),
    ("overview", "Overview", "总览"),
    ("dead_letters", "Dead letters", "死信"),
    ("config", "Configuration", "配置"),
    ("sources", "Devices and subscriptions", "设备与订阅"),
    ("name", "Name", "名称"),
    ("protocol", "Protocol", "协议"),
    ("endpoint", "Connection", "连接"),
    ("interval", "Interval", "周期"),
    ("state", "State", "状态"),
    ("last_reading", "Last reading", "最近读数"),
    ("good", "Good", "正常"),
    ("flagged", "Flagged", "标记"),
    ("missing", "Missing", "缺失"),
    ("latency", "Mean latency", "平均延迟"),
    ("failures", "Failures by reason", "失败原因"),
    ("ok", "answering", "在线"),
    ("failing", "failing", "故障"),
    ("waiting", "no cycle yet", "尚未轮询"),
    ("journal", "Journal", "日志队列"),
    ("journal_bytes", "On disk", "占用磁盘"),
    ("undelivered", "Undelivered readings", "未送达读数"),
    ("sinks", "Sinks", "输出"),
    ("sink_lag", "Lag (readings)", "积压(条)"),
    ("delivered", "Delivered", "已送达"),
    ("retries", "Failed attempts", "失败次数"),
    ("health", "Health", "健康状况"),
    ("healthy", "healthy", "正常"),
    ("points", "Points", "测点"),
    ("quantity", "Quantity", "物理量"),
    ("value", "Value", "数值"),
    ("unit", "Unit", "单位"),
    ("quality", "Quality", "质量"),
    ("time", "Time", "时间"),
    ("raw", "Raw registers / frame", "原始寄存器/报文"),
    ("orders", "In each word order", "各字序解读"),
    ("requests", "Requests of a cycle", "每周期请求"),
    ("line_share", "Share of the line", "占用线路"),
    ("reason", "Reason", "原因"),
    ("file", "File", "文件"),
    ("none", "none", "无"),
    ("check", "Check", "检查"),
    ("apply", "Apply", "应用"),
    ("config_ok", "The config is valid.", "配置有效。"),
    ("applied", "Applied", "已应用"),
    ("line", "Line", "行"),
    ("key", "Key", "键"),
    ("problem", "Problem", "问题"),
    ("login", "Sign in", "登录"),
    ("token", "Console token", "控制台口令"),
    ("live", "Values refresh every second.", "数值每秒刷新。"),
    ("mqtt", "MQTT", "MQTT"),
    ("messages", "Messages", "消息"),
    ("connected", "connected", "已连接"),
    ("disconnected", "disconnected", "未连接"),
    ("topic", "Topic filter", "主题过滤"),
    ("meter_pattern", "Meter name", "仪表名称"),
    ("try", "Try a point", "试读测点"),
    ("read", "Read", "读取"),
    ("unit_id", "Unit id", "从站地址"),
    ("function", "Register table", "寄存器类型"),
    ("address", "Address", "地址"),
    ("data_type", "Type", "数据类型"),
    ("scale", "Scale", "倍率"),
    ("words", "Registers", "寄存器"),
    ("order", "Word order", "字序"),
    ("discover", "Discover meters", "发现仪表"),
    ("discover_note", "Scans a line the collector does not poll yet: a serial port, or a serial server passing raw frames. Every silent unit id costs the timeout.", "扫描尚未被采集器轮询的线路:串口,或透传原始报文的串口服务器。每个无应答的地址耗时一个超时。"),
    ("serial_port", "Serial port", "串口"),
    ("baud", "Baud rate", "波特率"),
    ("parity", "Parity", "校验"),
    ("or_server", "or serial server host : port", "或串口服务器 主机 : 端口"),
    ("units", "Unit ids", "从站地址范围"),
    ("timeout", "Timeout per probe (ms)", "每次探测超时(毫秒)"),
    ("protocols", "Protocols", "协议"),
    ("scan", "Scan", "扫描"),
    ("found", "Found", "发现"),
    ("snippet", "Config for what was found (paste into the configuration, confirm the profiles)", "所发现设备的配置(粘贴到配置中,并确认型号模板)"),
    ("try_note", "Reads once; on a line the collector polls, the read takes its turn between the pollers'.", "只读一次;在已轮询的线路上,与轮询轮流使用线路。"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_chooses_and_the_switch_wins() {
        assert_eq!(Lang::choose(None, None, Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::choose(None, None, Some("de-DE,en;q=0.5")), Lang::En);
        assert_eq!(Lang::choose(Some("en"), Some("zh"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::choose(None, Some("zh"), None), Lang::Zh);
    }

    #[test]
    fn every_word_has_both_languages() {
        for (k, en, zh) in WORDS {
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
        let keys: std::collections::BTreeSet<_> = WORDS.iter().map(|w| w.0).collect();
        assert_eq!(keys.len(), WORDS.len(), "a key twice");
    }
}
