package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Values.Range;
import io.kvpilot.engine.template.Values.Tuple;
import io.kvpilot.engine.template.Values.Undefined;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/** Python's arithmetic, comparison, membership and slicing; integers are 64-bit and overflow is an error. */
final class Ops {

    private Ops() {}

    static Object arithmetic(String op, Object a, Object b, Budget budget, int line) {
        if (a instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        if (b instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        if (Py.isNumber(a) && Py.isNumber(b)) {
            return numeric(op, a, b, line);
        }
        if (op.equals("+")) {
            if (a instanceof String x && b instanceof String y) {
                return budget.built(x + y, line);
            }
            if (a instanceof List<?> x && b instanceof List<?> y && (a instanceof Tuple) == (b instanceof Tuple)) {
                budget.checkLength((long) x.size() + y.size(), line);
                List<Object> out = new ArrayList<>(x);
                out.addAll(y);
                return a instanceof Tuple ? new Tuple(out) : Collections.unmodifiableList(out);
            }
        }
        if (op.equals("*") && (Py.isInt(a) || Py.isInt(b))) {
            Object seq = Py.isInt(a) ? b : a;
            long times = Math.max(0, Py.asLong(Py.isInt(a) ? a : b));
            if (seq instanceof String s) {
                budget.checkRepeat(s.length(), times, line);
                return budget.built(s.repeat((int) times), line);
            }
            if (seq instanceof List<?> l) {
                budget.checkRepeat(l.size(), times, line);
                List<Object> out = new ArrayList<>();
                for (long i = 0; i < times; i++) {
                    budget.iterate(line);
                    out.addAll(l);
                }
                return seq instanceof Tuple ? new Tuple(out) : Collections.unmodifiableList(out);
            }
        }
        throw TemplateException.at(Kind.TYPE, line, "unsupported operand type(s) for " + op + ": '" + Py.typeName(a)
                + "' and '" + Py.typeName(b) + "'");
    }

    private static Object numeric(String op, Object a, Object b, int line) {
        if (op.equals("/")) {
            double y = Py.asDouble(b);
            if (y == 0) {
                throw TemplateException.at(Kind.TYPE, line, "division by zero");
            }
            return Py.asDouble(a) / y;
        }
        if (a instanceof Double || b instanceof Double) {
            double x = Py.asDouble(a);
            double y = Py.asDouble(b);
            if (y == 0 && (op.equals("//") || op.equals("%"))) {
                throw TemplateException.at(Kind.TYPE, line, "float division by zero");
            }
            return switch (op) {
                case "+" -> x + y;
                case "-" -> x - y;
                case "*" -> x * y;
                case "//" -> Math.floor(x / y);
                case "%" -> {
                    double m = x % y;
                    yield m != 0 && (m < 0) != (y < 0) ? m + y : m;
                }
                default -> Math.pow(x, y);
            };
        }
        long x = Py.asLong(a);
        long y = Py.asLong(b);
        try {
            return switch (op) {
                case "+" -> Math.addExact(x, y);
                case "-" -> Math.subtractExact(x, y);
                case "*" -> Math.multiplyExact(x, y);
                case "//", "%" -> {
                    if (y == 0) {
                        throw TemplateException.at(Kind.TYPE, line, "integer division or modulo by zero");
                    }
                    yield op.equals("//") ? Math.floorDiv(x, y) : Math.floorMod(x, y);
                }
                default -> power(x, y);
            };
        } catch (ArithmeticException e) {
            throw TemplateException.at(Kind.LIMIT, line, "integer overflow");
        }
    }

    private static Object power(long base, long exponent) {
        if (exponent < 0) {
            return Math.pow(base, exponent);
        }
        long result = 1;
        for (long i = 0; i < exponent; i++) {
            result = Math.multiplyExact(result, base);
            if (result == 0 || result == 1 && base == 1) {
                break;
            }
            if (base == -1) {
                return exponent % 2 == 0 ? 1L : -1L;
            }
        }
        return result;
    }

    static boolean compare(String op, Object a, Object b, int line) {
        return switch (op) {
            case "==" -> Py.eq(a, b);
            case "!=" -> !Py.eq(a, b);
            case "<" -> Py.compare(a, b, line) < 0;
            case ">" -> Py.compare(a, b, line) > 0;
            case "<=" -> Py.compare(a, b, line) <= 0;
            case ">=" -> Py.compare(a, b, line) >= 0;
            case "in" -> contains(b, a, line);
            default -> !contains(b, a, line);
        };
    }

    static boolean contains(Object container, Object item, int line) {
        if (container instanceof String s) {
            if (!(item instanceof String x)) {
                throw TemplateException.at(Kind.TYPE, line, "'in <string>' requires string as left operand, not "
                        + Py.typeName(item));
            }
            return s.contains(x);
        }
        if (container instanceof Map<?, ?> m) {
            return m.containsKey(item);
        }
        if (container instanceof List<?> l) {
            for (Object o : l) {
                if (Py.eq(o, item)) {
                    return true;
                }
            }
            return false;
        }
        if (container instanceof Range r) {
            if (!Py.isInt(item)) {
                return false;
            }
            long v = Py.asLong(item);
            long offset = v - r.start();
            return offset % r.step() == 0 && offset / r.step() >= 0 && offset / r.step() < r.size();
        }
        if (container instanceof Undefined) {
            return false;
        }
        throw TemplateException.at(Kind.TYPE, line, "argument of type '" + Py.typeName(container)
                + "' is not iterable");
    }

    /** {@code value[start:stop:step]} with Python's index rules. */
    static Object slice(Object value, Object start, Object stop, Object step, Budget budget, int line) {
        if (value instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        long n = Py.length(value, line);
        long st = step == null ? 1 : index(step, line);
        if (st == 0) {
            throw TemplateException.at(Kind.TYPE, line, "slice step cannot be zero");
        }
        long lo = st > 0 ? 0 : -1;
        long hi = st > 0 ? n : n - 1;
        long from = start == null ? (st > 0 ? lo : hi) : clamp(index(start, line), n, lo, hi);
        long to = stop == null ? (st > 0 ? hi : lo) : clamp(index(stop, line), n, lo, hi);
        if (value instanceof Range r) {
            return new Range(r.start() + from * r.step(), r.start() + to * r.step(), r.step() * st);
        }
        List<Long> picks = new ArrayList<>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) {
            budget.iterate(line);
            picks.add(i);
        }
        if (value instanceof String s) {
            int[] cps = Py.codePoints(s);
            StringBuilder b = new StringBuilder();
            for (long i : picks) {
                b.appendCodePoint(cps[(int) i]);
            }
            return budget.built(b.toString(), line);
        }
        List<Object> out = new ArrayList<>(picks.size());
        for (long i : picks) {
            out.add(((List<?>) value).get((int) i));
        }
        return value instanceof Tuple ? new Tuple(out) : Collections.unmodifiableList(out);
    }

    private static long index(Object v, int line) {
        if (v == null) {
            return 0;
        }
        if (!Py.isInt(v)) {
            throw TemplateException.at(Kind.TYPE, line, "slice indices must be integers or None");
        }
        return Py.asLong(v);
    }

    private static long clamp(long i, long n, long lo, long hi) {
        if (i < 0) {
            i += n;
            return i < lo ? lo : i;
        }
        return Math.min(i, hi);
    }
}
