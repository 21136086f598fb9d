package io.kvpilot.engine.template;

import static io.kvpilot.engine.template.Methods.arg;

import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Values.Function;
import io.kvpilot.engine.template.Values.Namespace;
import io.kvpilot.engine.template.Values.Range;
import io.kvpilot.engine.template.Values.Tuple;
import io.kvpilot.engine.template.Values.Undefined;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Clock;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The global functions, filters and tests a template can name: jinja2's built-ins that chat templates use, plus
 * transformers' {@code raise_exception}, {@code strftime_now} and {@code tojson}. A name not listed here is an error.
 */
final class Builtins {

    private static final java.util.regex.Pattern WORD = java.util.regex.Pattern.compile("[\\p{L}\\p{N}_]+");

    private final Clock clock;

    Builtins(Clock clock) {
        this.clock = clock;
    }

    Map<String, Object> globals() {
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("range", (Function) (a, k, in, line) -> range(a, line));
        g.put("namespace", (Function) (a, k, in, line) -> {
            Namespace ns = new Namespace();
            for (Object o : a) {
                if (!(o instanceof Map<?, ?> m)) {
                    throw TemplateException.at(Kind.TYPE, line, "namespace() takes a dict and keyword arguments");
                }
                m.forEach((key, value) -> ns.attributes.put(Py.str(key), value));
            }
            ns.attributes.putAll(k);
            return ns;
        });
        g.put("dict", (Function) (a, k, in, line) -> Collections.unmodifiableMap(new LinkedHashMap<Object, Object>(k)));
        g.put("raise_exception", (Function) (a, k, in, line) -> {
            throw new TemplateException(Kind.RAISED, Py.str(arg(a, k, 0, "message", "")));
        });
        g.put("strftime_now", (Function) (a, k, in, line) -> Strftime.format(Methods.str(arg(a, k, 0, "format", ""),
                line), LocalDateTime.now(clock), line));
        return g;
    }

    private static Range range(List<Object> a, int line) {
        for (Object o : a) {
            if (!Py.isInt(o)) {
                throw TemplateException.at(Kind.TYPE, line, "range() takes integers");
            }
        }
        long start = a.size() > 1 ? Py.asLong(a.get(0)) : 0;
        long stop = a.size() == 1 ? Py.asLong(a.get(0)) : a.size() > 1 ? Py.asLong(a.get(1)) : 0;
        long step = a.size() > 2 ? Py.asLong(a.get(2)) : 1;
        if (a.isEmpty() || a.size() > 3 || step == 0) {
            throw TemplateException.at(Kind.TYPE, line, "range() takes 1 to 3 integers, step not 0");
        }
        return new Range(start, stop, step);
    }

    // ---- filters

    Object filter(String name, Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line) {
        Budget budget = in.budget;
        switch (name) {
            case "safe":
                return v;
            case "string":
                return budget.built(Py.str(v), line);
            case "e", "escape":
                return budget.built(escape(Py.str(v)), line);
            case "trim": {
                Object chars = arg(a, k, 0, "chars", null);
                return Py.strip(Py.str(v), chars == null ? null : Methods.str(chars, line), true, true);
            }
            case "upper":
                return Py.str(v).toUpperCase(Locale.ROOT);
            case "lower":
                return Py.str(v).toLowerCase(Locale.ROOT);
            case "capitalize":
                return Methods.capitalize(Py.str(v));
            case "title":
                return title(Py.str(v));
            case "replace":
                return Methods.replace(Py.str(v), Py.str(arg(a, k, 0, "old", "")), Py.str(arg(a, k, 1, "new", "")),
                        Py.asLong(number(arg(a, k, 2, "count", -1L), line)), budget, line);
            case "length", "count":
                return Py.length(v, line);
            case "wordcount":
                return WORD.matcher(Py.str(v)).results().count();
            case "default", "d": {
                boolean boolMode = Py.truthy(arg(a, k, 1, "boolean", false));
                return v instanceof Undefined || boolMode && !Py.truthy(v) ? arg(a, k, 0, "default_value", "") : v;
            }
            case "first": {
                Iterator<Object> it = Py.iterate(v, line);
                return it.hasNext() ? it.next() : new Undefined("no first item, sequence was empty");
            }
            case "last": {
                List<Object> items = list(v, budget, line);
                return items.isEmpty() ? new Undefined("no last item, sequence was empty")
                        : items.get(items.size() - 1);
            }
            case "list":
                return Collections.unmodifiableList(list(v, budget, line));
            case "reverse":
                if (v instanceof String s) {
                    return new StringBuilder(s).reverse().toString();
                }
                List<Object> reversed = list(v, budget, line);
                Collections.reverse(reversed);
                return Collections.unmodifiableList(reversed);
            case "join": {
                String separator = Py.str(arg(a, k, 0, "d", ""));
                Object attribute = arg(a, k, 1, "attribute", null);
                StringBuilder b = new StringBuilder();
                boolean first = true;
                for (Object item : list(v, budget, line)) {
                    b.append(first ? "" : separator).append(Py.str(attribute == null ? item
                            : in.getItem(item, attribute, line)));
                    first = false;
                    budget.checkLength(b.length(), line);
                }
                return budget.built(b.toString(), line);
            }
            case "tojson":
                return Json.dumps(v, arg(a, k, 0, "indent", null), arg(a, k, 1, "separators", null),
                        Py.truthy(arg(a, k, 2, "sort_keys", false)), Py.truthy(k.getOrDefault("ensure_ascii",
                        false)), budget, line);
            case "int":
                return toInt(v, arg(a, k, 0, "default", 0L));
            case "float":
                return toFloat(v, arg(a, k, 0, "default", 0.0));
            case "abs":
                if (v instanceof Double d) {
                    return Math.abs(d);
                }
                return Math.abs(Py.asLong(number(v, line)));
            case "round":
                return round(number(v, line), Py.asLong(number(arg(a, k, 0, "precision", 0L), line)),
                        Py.str(arg(a, k, 1, "method", "common")), line);
            case "items":
                if (v instanceof Undefined) {
                    return List.of();
                }
                if (!(v instanceof Map<?, ?> m)) {
                    throw TemplateException.at(Kind.TYPE, line, "can only get item pairs from a mapping");
                }
                return Methods.items(m);
            case "dictsort":
                return dictsort(v, a, k, line);
            case "sort":
                return sort(v, a, k, in, line);
            case "unique":
                return unique(v, a, k, in, line);
            case "min", "max": {
                List<Object> items = list(v, budget, line);
                if (items.isEmpty()) {
                    return new Undefined("no " + name + " item, sequence was empty");
                }
                Comparator<Object> order = comparator(Py.truthy(arg(a, k, 0, "case_sensitive", false)),
                        arg(a, k, 1, "attribute", null), in, line);
                return name.equals("min") ? Collections.min(items, order) : Collections.max(items, order);
            }
            case "sum": {
                Object attribute = arg(a, k, 0, "attribute", null);
                Object total = arg(a, k, 1, "start", 0L);
                for (Object item : list(v, budget, line)) {
                    total = Ops.arithmetic("+", total, attribute == null ? item : in.getItem(item, attribute, line),
                            budget, line);
                }
                return total;
            }
            case "map":
                return map(v, a, k, in, line);
            case "select", "reject":
                return select(v, a, k, in, line, name.equals("select"), false);
            case "selectattr", "rejectattr":
                return select(v, a, k, in, line, name.equals("selectattr"), true);
            case "indent":
                return budget.built(indent(Py.str(v), arg(a, k, 0, "width", 4L), Py.truthy(arg(a, k, 1, "first",
                        false)), Py.truthy(arg(a, k, 2, "blank", false)), budget, line), line);
            case "center": {
                String text = Py.str(v);
                long width = Py.asLong(number(arg(a, k, 0, "width", 80L), line));
                long pad = width - Py.length(text, line);
                if (pad <= 0) {
                    return text;
                }
                budget.checkLength(width, line);
                long left = pad / 2 + (pad & width & 1);
                return " ".repeat((int) left) + text + " ".repeat((int) (pad - left));
            }
            case "attr":
                return in.getAttr(v, Py.str(arg(a, k, 0, "name", "")), line);
            default:
                throw TemplateException.at(Kind.UNSUPPORTED, line, "no filter named '" + name + "'");
        }
    }

    private static Object number(Object v, int line) {
        if (!Py.isNumber(v)) {
            throw TemplateException.at(Kind.TYPE, line, "expected a number, got '" + Py.typeName(v) + "'");
        }
        return v;
    }

    static List<Object> list(Object v, Budget budget, int line) {
        List<Object> out = new ArrayList<>();
        for (Iterator<Object> it = Py.iterate(v, line); it.hasNext(); ) {
            budget.iterate(line);
            out.add(it.next());
        }
        return out;
    }

    private static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&#34;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /** jinja2's {@code title} filter: words begin after whitespace or one of {@code -([{<}. */
    private static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean wordStart = true;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            boolean boundary = Py.isSpace((char) c) && c < 0x10000 || "-({[<".indexOf(c) >= 0;
            if (boundary) {
                b.appendCodePoint(c);
                wordStart = true;
            } else {
                b.appendCodePoint(wordStart ? Character.toUpperCase(c) : Character.toLowerCase(c));
                wordStart = false;
            }
        }
        return b.toString();
    }

    private static Object toInt(Object v, Object fallback) {
        if (v instanceof Double d) {
            return Double.isFinite(d) ? (long) (double) d : fallback;
        }
        if (Py.isInt(v)) {
            return Py.asLong(v);
        }
        if (v instanceof String s) {
            String t = Py.strip(s, null, true, true).replace("_", "");
            try {
                return Long.parseLong(t);
            } catch (NumberFormatException e) {
                try {
                    double d = Double.parseDouble(t);
                    return Double.isFinite(d) ? (long) d : fallback;
                } catch (NumberFormatException e2) {
                    return fallback;
                }
            }
        }
        return fallback;
    }

    private static Object toFloat(Object v, Object fallback) {
        if (Py.isNumber(v)) {
            return Py.asDouble(v);
        }
        if (v instanceof String s) {
            try {
                return Double.parseDouble(Py.strip(s, null, true, true));
            } catch (NumberFormatException e) {
                return fallback;
            }
        }
        return fallback;
    }

    private static Object round(Object v, long precision, String method, int line) {
        if (Py.isInt(v) && method.equals("common")) {
            return Py.asLong(v);
        }
        double d = Py.asDouble(v);
        if (!Double.isFinite(d)) {
            return d;
        }
        RoundingMode mode = switch (method) {
            case "common" -> RoundingMode.HALF_EVEN;
            case "ceil" -> RoundingMode.CEILING;
            case "floor" -> RoundingMode.FLOOR;
            default -> throw TemplateException.at(Kind.TYPE, line, "method must be common, ceil or floor");
        };
        return new BigDecimal(d).setScale((int) Math.max(-308, Math.min(precision, 308)), mode).doubleValue();
    }

    private Object dictsort(Object v, List<Object> a, Map<String, Object> k, int line) {
        if (!(v instanceof Map<?, ?> m)) {
            throw TemplateException.at(Kind.TYPE, line, "dictsort takes a mapping");
        }
        boolean caseSensitive = Py.truthy(arg(a, k, 0, "case_sensitive", false));
        int by = "value".equals(arg(a, k, 1, "by", "key")) ? 1 : 0;
        boolean reverse = Py.truthy(arg(a, k, 2, "reverse", false));
        List<Object> pairs = new ArrayList<>(Methods.items(m));
        Comparator<Object> order = (x, y) -> Py.compare(fold(((List<?>) x).get(by), caseSensitive),
                fold(((List<?>) y).get(by), caseSensitive), line);
        pairs.sort(reverse ? order.reversed() : order);
        return Collections.unmodifiableList(pairs);
    }

    private static Object fold(Object v, boolean caseSensitive) {
        return !caseSensitive && v instanceof String s ? s.toLowerCase(Locale.ROOT) : v;
    }

    private Comparator<Object> comparator(boolean caseSensitive, Object attribute, Interpreter in, int line) {
        return (x, y) -> Py.compare(fold(attribute == null ? x : in.getItem(x, attribute, line), caseSensitive),
                fold(attribute == null ? y : in.getItem(y, attribute, line), caseSensitive), line);
    }

    private Object sort(Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line) {
        List<Object> items = list(v, in.budget, line);
        Comparator<Object> order = comparator(Py.truthy(arg(a, k, 1, "case_sensitive", false)),
                arg(a, k, 2, "attribute", null), in, line);
        items.sort(Py.truthy(arg(a, k, 0, "reverse", false)) ? order.reversed() : order);
        return Collections.unmodifiableList(items);
    }

    private Object unique(Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line) {
        boolean caseSensitive = Py.truthy(arg(a, k, 0, "case_sensitive", false));
        Object attribute = arg(a, k, 1, "attribute", null);
        List<Object> seen = new ArrayList<>();
        List<Object> out = new ArrayList<>();
        for (Object item : list(v, in.budget, line)) {
            Object key = fold(attribute == null ? item : in.getItem(item, attribute, line), caseSensitive);
            boolean found = false;
            for (Object s : seen) {
                in.budget.iterate(line);
                if (Py.eq(s, key)) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                seen.add(key);
                out.add(item);
            }
        }
        return Collections.unmodifiableList(out);
    }

    private Object map(Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line) {
        List<Object> out = new ArrayList<>();
        if (k.containsKey("attribute")) {
            Object attribute = k.get("attribute");
            for (Object item : list(v, in.budget, line)) {
                Object got = in.getItem(item, attribute, line);
                out.add(got instanceof Undefined && k.containsKey("default") ? k.get("default") : got);
            }
        } else {
            if (a.isEmpty()) {
                throw TemplateException.at(Kind.TYPE, line, "map requires a filter name or attribute=");
            }
            String filter = Py.str(a.get(0));
            for (Object item : list(v, in.budget, line)) {
                out.add(filter(filter, item, a.subList(1, a.size()), k, in, line));
            }
        }
        return Collections.unmodifiableList(out);
    }

    private Object select(Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line, boolean keep,
            boolean byAttribute) {
        int skip = byAttribute ? 1 : 0;
        List<Object> out = new ArrayList<>();
        for (Object item : list(v, in.budget, line)) {
            Object subject = byAttribute ? in.getItem(item, a.isEmpty() ? "" : a.get(0), line) : item;
            boolean ok = a.size() <= skip ? Py.truthy(subject)
                    : test(Py.str(a.get(skip)), subject, a.subList(skip + 1, a.size()), Map.of(), in, line);
            if (ok == keep) {
                out.add(item);
            }
        }
        return Collections.unmodifiableList(out);
    }

    private static String indent(String s, Object width, boolean first, boolean blank, Budget budget, int line) {
        long w = width instanceof String ? 0 : Math.max(0, Py.asLong(number(width, line)));
        budget.checkLength(w, line);
        String pad = width instanceof String text ? text : " ".repeat((int) w);
        List<String> lines = Methods.splitLines(s + "\n");
        StringBuilder b = new StringBuilder();
        if (blank) {
            b.append(String.join("\n" + pad, lines));
        } else {
            b.append(lines.get(0));
            for (int i = 1; i < lines.size(); i++) {
                b.append('\n').append(lines.get(i).isEmpty() ? "" : pad).append(lines.get(i));
                budget.checkLength(b.length(), line);
            }
        }
        return first ? pad + b : b.toString();
    }

    // ---- tests

    boolean test(String name, Object v, List<Object> a, Map<String, Object> k, Interpreter in, int line) {
        Object other = arg(a, k, 0, "other", null);
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "number" -> Py.isNumber(v);
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof Map;
            case "sequence" -> v instanceof String || v instanceof List || v instanceof Map || v instanceof Range
                    || v instanceof Undefined;
            case "iterable" -> v instanceof String || v instanceof List || v instanceof Map || v instanceof Range
                    || v instanceof Undefined;
            case "callable" -> v instanceof Function;
            case "odd", "even" -> {
                if (!Py.isInt(v)) {
                    throw TemplateException.at(Kind.TYPE, line, "'" + name + "' needs an integer");
                }
                yield (Py.asLong(v) % 2 != 0) == name.equals("odd");
            }
            case "divisibleby" -> Py.eq(Ops.arithmetic("%", v, other, in.budget, line), 0L);
            case "eq", "equalto", "==" -> Py.eq(v, other);
            case "ne", "!=" -> !Py.eq(v, other);
            case "lt", "lessthan", "<" -> Py.compare(v, other, line) < 0;
            case "le", "<=" -> Py.compare(v, other, line) <= 0;
            case "gt", "greaterthan", ">" -> Py.compare(v, other, line) > 0;
            case "ge", ">=" -> Py.compare(v, other, line) >= 0;
            case "in" -> Ops.contains(arg(a, k, 0, "seq", null), v, line);
            case "sameas" -> v == other || v != null && other != null && v.getClass() == other.getClass()
                    && (v instanceof Boolean || v instanceof Long) && v.equals(other);
            case "lower" -> Py.str(v).equals(Py.str(v).toLowerCase(Locale.ROOT));
            case "upper" -> Py.str(v).equals(Py.str(v).toUpperCase(Locale.ROOT));
            default -> throw TemplateException.at(Kind.UNSUPPORTED, line, "no test named '" + name + "'");
        };
    }
}
