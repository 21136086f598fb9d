package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * transformers' {@code tojson} filter: Python's {@code json.dumps(x, ensure_ascii=False, indent=indent,
 * separators=separators, sort_keys=sort_keys)} (jinja2's own would HTML-escape, which chat templates must not).
 */
final class Json {

    private final String indent;
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;
    private final boolean ensureAscii;
    private final Budget budget;
    private final int line;
    private final StringBuilder out = new StringBuilder();

    private Json(String indent, String itemSeparator, String keySeparator, boolean sortKeys, boolean ensureAscii,
            Budget budget, int line) {
        this.indent = indent;
        this.itemSeparator = itemSeparator;
        this.keySeparator = keySeparator;
        this.sortKeys = sortKeys;
        this.ensureAscii = ensureAscii;
        this.budget = budget;
        this.line = line;
    }

    static String dumps(Object value, Object indent, Object separators, boolean sortKeys, boolean ensureAscii,
            Budget budget, int line) {
        if (Py.isInt(indent)) {
            budget.checkLength(Py.asLong(indent), line);
        }
        String ind = indent == null ? null : indent instanceof String s ? s
                : Py.isInt(indent) ? " ".repeat((int) Math.max(0, Py.asLong(indent))) : null;
        String item = ind == null ? ", " : ",";
        String key = ": ";
        if (separators instanceof List<?> l && l.size() == 2 && l.get(0) instanceof String a
                && l.get(1) instanceof String b) {
            item = a;
            key = b;
        } else if (separators != null) {
            throw TemplateException.at(Kind.TYPE, line, "tojson separators must be a pair of strings");
        }
        Json json = new Json(ind, item, key, sortKeys, ensureAscii, budget, line);
        json.write(value, 0);
        return budget.built(json.out.toString(), line);
    }

    private void write(Object v, int depth) {
        if (depth > Py.MAX_DEPTH) {
            throw TemplateException.at(Kind.LIMIT, line, "value nested too deeply for tojson");
        }
        budget.checkLength(out.length(), line);
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (v instanceof Long l) {
            out.append(l);
        } else if (v instanceof Double d) {
            out.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity")
                    : Py.floatRepr(d));
        } else if (v instanceof String s) {
            string(s);
        } else if (v instanceof List<?> l) {
            if (l.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < l.size(); i++) {
                budget.iterate(line);
                out.append(i == 0 ? "" : itemSeparator);
                newline(depth + 1);
                write(l.get(i), depth + 1);
            }
            newline(depth);
            out.append(']');
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                out.append("{}");
                return;
            }
            List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
            if (sortKeys) {
                entries.sort((x, y) -> Py.compare(x.getKey(), y.getKey(), line));
            }
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : entries) {
                budget.iterate(line);
                out.append(first ? "" : itemSeparator);
                first = false;
                newline(depth + 1);
                string(key(e.getKey()));
                out.append(keySeparator);
                write(e.getValue(), depth + 1);
            }
            newline(depth);
            out.append('}');
        } else {
            throw TemplateException.at(Kind.TYPE, line, "Object of type " + Py.typeName(v)
                    + " is not JSON serializable");
        }
    }

    private String key(Object k) {
        if (k instanceof String s) {
            return s;
        }
        if (k == null) {
            return "null";
        }
        if (k instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (k instanceof Long || k instanceof Double) {
            return Py.str(k);
        }
        throw TemplateException.at(Kind.TYPE, line, "keys must be str, int, float, bool or None, not "
                + Py.typeName(k));
    }

    private void newline(int depth) {
        if (indent != null) {
            out.append('\n');
            for (int i = 0; i < depth; i++) {
                out.append(indent);
            }
        }
    }

    private void string(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20 || ensureAscii && c > 0x7E) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
