package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Values.Function;
import io.kvpilot.engine.template.Values.Namespace;
import io.kvpilot.engine.template.Values.Range;
import io.kvpilot.engine.template.Values.Tuple;
import io.kvpilot.engine.template.Values.Undefined;
import java.math.BigDecimal;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/** Python's meaning of truth, equality, ordering, {@code str()} and {@code repr()} over template values. */
final class Py {

    static final int MAX_DEPTH = 100;

    private Py() {}

    /** Python's {@code str.isspace()} for one UTF-16 unit (what {@code \s} and {@code strip()} remove). */
    static boolean isSpace(char c) {
        return Character.isWhitespace(c) || c == 0x85 || c == 0xA0 || c == 0x2007 || c == 0x202F;
    }

    static boolean isAllSpace(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (!isSpace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    static String rstrip(String s) {
        return strip(s, null, false, true);
    }

    /** {@code str.strip/lstrip/rstrip(chars)}; {@code chars == null} strips whitespace. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && stripped(s.charAt(start), chars)) {
            start++;
        }
        while (right && end > start && stripped(s.charAt(end - 1), chars)) {
            end--;
        }
        return s.substring(start, end);
    }

    private static boolean stripped(char c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    /** A string literal's body decoded as Python's unicode-escape codec does (jinja2's rule). */
    static String unescape(String body, int line) {
        if (body.indexOf('\\') < 0) {
            return body;
        }
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 >= body.length()) {
                out.append(c);
                continue;
            }
            char e = body.charAt(++i);
            switch (e) {
                case '\n' -> { }
                case '\\', '\'', '"' -> out.append(e);
                case 'a' -> out.append('\u0007');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'v' -> out.append('\u000B');
                case 'x', 'u', 'U' -> {
                    int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    try {
                        out.appendCodePoint(Integer.parseInt(body.substring(i + 1, i + 1 + n), 16));
                    } catch (NumberFormatException | StringIndexOutOfBoundsException ex) {
                        throw TemplateException.at(Kind.SYNTAX, line, "truncated \\" + e + " escape");
                    }
                    i += n;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int end = i;
                        while (end < body.length() && end < i + 3 && body.charAt(end) >= '0' && body.charAt(end) <= '7') {
                            end++;
                        }
                        out.append((char) Integer.parseInt(body.substring(i, end), 8));
                        i = end - 1;
                    } else {
                        out.append('\\').append(e);
                    }
                }
            }
        }
        return out.toString();
    }

    static boolean truthy(Object v) {
        if (v == null || v instanceof Undefined) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Long l) {
            return l != 0;
        }
        if (v instanceof Double d) {
            return d != 0.0;
        }
        if (v instanceof String s) {
            return !s.isEmpty();
        }
        if (v instanceof List<?> l) {
            return !l.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        if (v instanceof Range r) {
            return r.size() > 0;
        }
        return true;
    }

    static String typeName(Object v) {
        if (v == null) {
            return "NoneType";
        }
        if (v instanceof Undefined) {
            return "Undefined";
        }
        if (v instanceof Boolean) {
            return "bool";
        }
        if (v instanceof Long) {
            return "int";
        }
        if (v instanceof Double) {
            return "float";
        }
        if (v instanceof String) {
            return "str";
        }
        if (v instanceof Tuple) {
            return "tuple";
        }
        if (v instanceof List) {
            return "list";
        }
        if (v instanceof Map) {
            return "dict";
        }
        if (v instanceof Namespace) {
            return "Namespace";
        }
        if (v instanceof Range) {
            return "range";
        }
        if (v instanceof Function) {
            return "function";
        }
        return "object";
    }

    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    static long asLong(Object v) {
        return v instanceof Boolean b ? (b ? 1 : 0) : (Long) v;
    }

    static double asDouble(Object v) {
        return v instanceof Double d ? d : asLong(v);
    }

    // ---- str() and repr()

    static String str(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Undefined) {
            return "";
        }
        StringBuilder b = new StringBuilder();
        repr(v, b, 0);
        return b.toString();
    }

    static String repr(Object v) {
        StringBuilder b = new StringBuilder();
        repr(v, b, 0);
        return b.toString();
    }

    private static void repr(Object v, StringBuilder b, int depth) {
        if (depth > MAX_DEPTH) {
            throw new TemplateException(Kind.LIMIT, "value nested too deeply to print");
        }
        if (v == null) {
            b.append("None");
        } else if (v instanceof Boolean x) {
            b.append(x ? "True" : "False");
        } else if (v instanceof Long x) {
            b.append(x);
        } else if (v instanceof Double x) {
            b.append(floatRepr(x));
        } else if (v instanceof String s) {
            stringRepr(s, b);
        } else if (v instanceof Undefined) {
            b.append("Undefined");
        } else if (v instanceof Tuple t) {
            b.append('(');
            items(t, b, depth);
            b.append(t.size() == 1 ? ",)" : ")");
        } else if (v instanceof List<?> l) {
            b.append('[');
            items(l, b, depth);
            b.append(']');
        } else if (v instanceof Map<?, ?> m) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                b.append(first ? "" : ", ");
                first = false;
                repr(e.getKey(), b, depth + 1);
                b.append(": ");
                repr(e.getValue(), b, depth + 1);
            }
            b.append('}');
        } else if (v instanceof Namespace n) {
            b.append("<Namespace ");
            repr(n.attributes, b, depth + 1);
            b.append('>');
        } else if (v instanceof Range r) {
            b.append("range(").append(r.start()).append(", ").append(r.stop());
            b.append(r.step() == 1 ? ")" : ", " + r.step() + ")");
        } else {
            b.append("<").append(typeName(v)).append(">");
        }
    }

    private static void items(List<?> l, StringBuilder b, int depth) {
        for (int i = 0; i < l.size(); i++) {
            b.append(i == 0 ? "" : ", ");
            repr(l.get(i), b, depth + 1);
        }
    }

    private static void stringRepr(String s, StringBuilder b) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        b.append(quote);
        s.codePoints().forEach(c -> {
            if (c == quote || c == '\\') {
                b.append('\\').appendCodePoint(c);
            } else if (c == '\n') {
                b.append("\\n");
            } else if (c == '\r') {
                b.append("\\r");
            } else if (c == '\t') {
                b.append("\\t");
            } else if (c == ' ' || isPrintable(c)) {
                b.appendCodePoint(c);
            } else if (c < 0x100) {
                b.append(String.format("\\x%02x", c));
            } else if (c < 0x10000) {
                b.append(String.format("\\u%04x", c));
            } else {
                b.append(String.format("\\U%08x", c));
            }
        });
        b.append(quote);
    }

    private static boolean isPrintable(int c) {
        return switch (Character.getType(c)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** Python's {@code repr(float)}: shortest digits, positional from 1e-4 up to 1e16, else {@code 1e+16}. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return 1 / d < 0 ? "-0.0" : "0.0";
        }
        BigDecimal x = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = x.unscaledValue().toString();
        int exponent = digits.length() - 1 - x.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = x.toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + (Math.abs(exponent) < 10 ? "0" : "")
                + Math.abs(exponent);
    }

    // ---- comparison

    static boolean eq(Object a, Object b) {
        return eq(a, b, 0);
    }

    private static boolean eq(Object a, Object b, int depth) {
        if (depth > MAX_DEPTH) {
            throw new TemplateException(Kind.LIMIT, "values nested too deeply to compare");
        }
        if (a == b) {
            return true;
        }
        if (a == null || b == null) {
            return false;
        }
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) {
                return asDouble(a) == asDouble(b);
            }
            return asLong(a) == asLong(b);
        }
        if (a instanceof String || b instanceof String) {
            return a.equals(b);
        }
        if (a instanceof Undefined || b instanceof Undefined) {
            return a instanceof Undefined && b instanceof Undefined;
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if ((a instanceof Tuple) != (b instanceof Tuple) || x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!eq(x.get(i), y.get(i), depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
            if (x.size() != y.size()) {
                return false;
            }
            for (Map.Entry<?, ?> e : x.entrySet()) {
                if (!y.containsKey(e.getKey()) || !eq(e.getValue(), y.get(e.getKey()), depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Range x && b instanceof Range y) {
            return x.equals(y);
        }
        return false;
    }

    /** Python's ordering ({@code <}); mixed kinds are a type error as in Python 3. */
    static int compare(Object a, Object b, int line) {
        if (isNumber(a) && isNumber(b)) {
            if (a instanceof Double || b instanceof Double) {
                return Double.compare(asDouble(a), asDouble(b)) ;
            }
            return Long.compare(asLong(a), asLong(b));
        }
        if (a instanceof String x && b instanceof String y) {
            return compareCodePoints(x, y);
        }
        if (a instanceof List<?> x && b instanceof List<?> y && (a instanceof Tuple) == (b instanceof Tuple)) {
            for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
                if (!eq(x.get(i), y.get(i))) {
                    return compare(x.get(i), y.get(i), line);
                }
            }
            return Integer.compare(x.size(), y.size());
        }
        throw TemplateException.at(Kind.TYPE, line, "'<' not supported between instances of '" + typeName(a)
                + "' and '" + typeName(b) + "'");
    }

    static int compareCodePoints(String x, String y) {
        int i = 0;
        int j = 0;
        while (i < x.length() && j < y.length()) {
            int a = x.codePointAt(i);
            int b = y.codePointAt(j);
            if (a != b) {
                return Integer.compare(a, b);
            }
            i += Character.charCount(a);
            j += Character.charCount(b);
        }
        return Integer.compare(x.length() - i, y.length() - j);
    }

    // ---- sequences

    /** {@code len()}; strings count code points as Python does. */
    static long length(Object v, int line) {
        if (v instanceof String s) {
            return s.codePointCount(0, s.length());
        }
        if (v instanceof List<?> l) {
            return l.size();
        }
        if (v instanceof Map<?, ?> m) {
            return m.size();
        }
        if (v instanceof Range r) {
            return r.size();
        }
        if (v instanceof Undefined) {
            return 0;
        }
        throw TemplateException.at(Kind.TYPE, line, "object of type '" + typeName(v) + "' has no len()");
    }

    /** The items a for loop or a filter walks: list items, dict keys, string characters, range numbers. */
    static Iterator<Object> iterate(Object v, int line) {
        if (v instanceof List<?> l) {
            @SuppressWarnings("unchecked")
            Iterator<Object> it = (Iterator<Object>) l.iterator();
            return it;
        }
        if (v instanceof Map<?, ?> m) {
            @SuppressWarnings("unchecked")
            Iterator<Object> it = (Iterator<Object>) m.keySet().iterator();
            return it;
        }
        if (v instanceof String s) {
            return s.codePoints().mapToObj(c -> (Object) new String(Character.toChars(c))).iterator();
        }
        if (v instanceof Range r) {
            return new Iterator<>() {
                long i;

                @Override
                public boolean hasNext() {
                    return i < r.size();
                }

                @Override
                public Object next() {
                    return r.get(i++);
                }
            };
        }
        if (v instanceof Undefined) {
            return java.util.Collections.emptyIterator();
        }
        throw TemplateException.at(Kind.TYPE, line, "'" + typeName(v) + "' object is not iterable");
    }

    /** Code points of {@code s} (Python indexes strings by code point). */
    static int[] codePoints(String s) {
        return s.codePoints().toArray();
    }
}
