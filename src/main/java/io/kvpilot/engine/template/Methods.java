package io.kvpilot.engine.template;

import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Values.Function;
import io.kvpilot.engine.template.Values.Tuple;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The methods a template may call on strings, dicts and lists: a fixed table of Python's read-only ones. Methods that
 * would change a list or dict are refused, as in jinja2's immutable sandbox.
 */
final class Methods {

    private static final Set<String> MUTATORS = Set.of("append", "extend", "insert", "pop", "remove", "clear",
            "sort", "reverse", "update", "setdefault", "popitem");

    private Methods() {}

    /** The method {@code name} of {@code target} bound to it, or null if it has none by that name. */
    static Function bind(Object target, String name, Budget budget) {
        if (target instanceof String s) {
            return string(s, name, budget);
        }
        if (target instanceof Map<?, ?> m) {
            if (MUTATORS.contains(name)) {
                return refused(name, "dict");
            }
            return switch (name) {
                case "items" -> (a, k, in, line) -> items(m);
                case "keys" -> (a, k, in, line) -> Collections.unmodifiableList(new ArrayList<Object>(m.keySet()));
                case "values" -> (a, k, in, line) -> Collections.unmodifiableList(new ArrayList<Object>(m.values()));
                case "get" -> (a, k, in, line) -> {
                    Object key = arg(a, k, 0, "key", null);
                    return m.containsKey(key) ? m.get(key) : arg(a, k, 1, "default", null);
                };
                default -> null;
            };
        }
        if (target instanceof List<?> l) {
            if (MUTATORS.contains(name)) {
                return refused(name, Py.typeName(target));
            }
            return switch (name) {
                case "count" -> (a, k, in, line) -> l.stream().filter(x -> Py.eq(x, arg(a, k, 0, "x", null))).count();
                case "index" -> (a, k, in, line) -> {
                    for (int i = 0; i < l.size(); i++) {
                        if (Py.eq(l.get(i), arg(a, k, 0, "x", null))) {
                            return (long) i;
                        }
                    }
                    throw TemplateException.at(Kind.TYPE, line, "value is not in list");
                };
                default -> null;
            };
        }
        return null;
    }

    static List<Object> items(Map<?, ?> m) {
        List<Object> out = new ArrayList<>(m.size());
        m.forEach((k, v) -> out.add(new Tuple(java.util.Arrays.asList(k, v))));
        return Collections.unmodifiableList(out);
    }

    private static Function refused(String name, String type) {
        return (a, k, in, line) -> {
            throw TemplateException.at(Kind.UNSUPPORTED, line, "access to attribute '" + name + "' of '" + type
                    + "' object is unsafe");
        };
    }

    private static Function string(String s, String name, Budget budget) {
        return switch (name) {
            case "startswith", "endswith" -> (a, k, in, line) -> {
                Object affix = arg(a, k, 0, name.equals("startswith") ? "prefix" : "suffix", null);
                List<?> options = affix instanceof Tuple t ? t : List.of(str(affix, line));
                for (Object o : options) {
                    String x = str(o, line);
                    if (name.equals("startswith") ? s.startsWith(x) : s.endsWith(x)) {
                        return true;
                    }
                }
                return false;
            };
            case "strip", "lstrip", "rstrip" -> (a, k, in, line) -> {
                Object chars = arg(a, k, 0, "chars", null);
                return Py.strip(s, chars == null ? null : str(chars, line), !name.equals("rstrip"),
                        !name.equals("lstrip"));
            };
            case "split", "rsplit" -> (a, k, in, line) -> split(s, arg(a, k, 0, "sep", null),
                    arg(a, k, 1, "maxsplit", -1L), name.equals("rsplit"), budget, line);
            case "splitlines" -> (a, k, in, line) -> Collections.unmodifiableList(new ArrayList<Object>(
                    splitLines(s)));
            case "upper" -> (a, k, in, line) -> s.toUpperCase(java.util.Locale.ROOT);
            case "lower" -> (a, k, in, line) -> s.toLowerCase(java.util.Locale.ROOT);
            case "title" -> (a, k, in, line) -> title(s);
            case "capitalize" -> (a, k, in, line) -> capitalize(s);
            case "replace" -> (a, k, in, line) -> replace(s, str(arg(a, k, 0, "old", null), line),
                    str(arg(a, k, 1, "new", null), line), Py.asLong(arg(a, k, 2, "count", -1L)), budget, line);
            case "find", "rfind" -> (a, k, in, line) -> {
                String x = str(arg(a, k, 0, "sub", null), line);
                int i = name.equals("find") ? s.indexOf(x) : s.lastIndexOf(x);
                return i < 0 ? -1L : (long) s.codePointCount(0, i);
            };
            case "count" -> (a, k, in, line) -> {
                String x = str(arg(a, k, 0, "sub", null), line);
                if (x.isEmpty()) {
                    return (long) s.codePointCount(0, s.length()) + 1;
                }
                long n = 0;
                for (int i = s.indexOf(x); i >= 0; i = s.indexOf(x, i + x.length())) {
                    n++;
                }
                return n;
            };
            case "join" -> (a, k, in, line) -> {
                StringBuilder b = new StringBuilder();
                java.util.Iterator<Object> it = Py.iterate(arg(a, k, 0, "iterable", null), line);
                for (boolean first = true; it.hasNext(); first = false) {
                    budget.iterate(line);
                    b.append(first ? "" : s).append(str(it.next(), line));
                    budget.checkLength(b.length(), line);
                }
                return budget.built(b.toString(), line);
            };
            case "removeprefix" -> (a, k, in, line) -> {
                String x = str(arg(a, k, 0, "prefix", null), line);
                return s.startsWith(x) ? s.substring(x.length()) : s;
            };
            case "removesuffix" -> (a, k, in, line) -> {
                String x = str(arg(a, k, 0, "suffix", null), line);
                return s.endsWith(x) && !x.isEmpty() ? s.substring(0, s.length() - x.length()) : s;
            };
            case "isdigit" -> (a, k, in, line) -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha" -> (a, k, in, line) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum" -> (a, k, in, line) -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace" -> (a, k, in, line) -> !s.isEmpty() && Py.isAllSpace(s, 0);
            case "islower" -> (a, k, in, line) -> cased(s) && s.equals(s.toLowerCase(java.util.Locale.ROOT));
            case "isupper" -> (a, k, in, line) -> cased(s) && s.equals(s.toUpperCase(java.util.Locale.ROOT));
            default -> null;
        };
    }

    static Object arg(List<Object> positional, Map<String, Object> named, int i, String name, Object fallback) {
        if (i < positional.size()) {
            return positional.get(i);
        }
        return named.containsKey(name) ? named.get(name) : fallback;
    }

    static String str(Object v, int line) {
        if (v instanceof String s) {
            return s;
        }
        throw TemplateException.at(Kind.TYPE, line, "expected a string, got '" + Py.typeName(v) + "'");
    }

    private static boolean cased(String s) {
        return s.codePoints().anyMatch(c -> Character.isUpperCase(c) || Character.isLowerCase(c));
    }

    static List<Object> split(String s, Object sep, Object maxObj, boolean fromRight, Budget budget, int line) {
        long max = maxObj == null ? -1 : Py.asLong(maxObj);
        List<Object> parts = new ArrayList<>();
        if (sep == null) {
            List<String> words = new ArrayList<>();
            int i = 0;
            while (i < s.length()) {
                while (i < s.length() && Py.isSpace(s.charAt(i))) {
                    i++;
                }
                int start = i;
                while (i < s.length() && !Py.isSpace(s.charAt(i))) {
                    i++;
                }
                if (i > start) {
                    words.add(s.substring(start, i));
                }
            }
            if (max >= 0 && words.size() > max + 1) {
                if (fromRight) {
                    throw TemplateException.at(Kind.UNSUPPORTED, line, "rsplit with maxsplit and no separator");
                }
                int kept = 0;
                int pos = 0;
                for (int w = 0; w < max; w++) {
                    pos = s.indexOf(words.get(w), pos) + words.get(w).length();
                    kept++;
                }
                parts.addAll(words.subList(0, kept));
                parts.add(Py.strip(s.substring(pos), null, true, false));
            } else {
                parts.addAll(words);
            }
        } else {
            String x = str(sep, line);
            if (x.isEmpty()) {
                throw TemplateException.at(Kind.TYPE, line, "empty separator");
            }
            List<String> all = new ArrayList<>();
            int start = 0;
            for (int i = s.indexOf(x); i >= 0; i = s.indexOf(x, start)) {
                budget.iterate(line);
                all.add(s.substring(start, i));
                start = i + x.length();
            }
            all.add(s.substring(start));
            if (max >= 0 && all.size() > max + 1) {
                int cut = (int) max;
                if (fromRight) {
                    int head = all.size() - cut;
                    parts.add(String.join(x, all.subList(0, head)));
                    parts.addAll(all.subList(head, all.size()));
                } else {
                    parts.addAll(all.subList(0, cut));
                    parts.add(String.join(x, all.subList(cut, all.size())));
                }
            } else {
                parts.addAll(all);
            }
        }
        return Collections.unmodifiableList(parts);
    }

    /** Python's {@code str.splitlines()}: every line boundary Python knows, line ends dropped. */
    static List<String> splitLines(String s) {
        List<String> lines = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E
                    || c == 0x85 || c == 0x2028 || c == 0x2029) {
                lines.add(s.substring(start, i));
                if (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < s.length()) {
            lines.add(s.substring(start));
        }
        return lines;
    }

    /** Python's {@code str.title()}: each run of cased letters starts upper, continues lower. */
    static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean previousCased = false;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            boolean cased = Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
            b.appendCodePoint(previousCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
            previousCased = cased;
        }
        return b.toString();
    }

    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int first = s.codePointAt(0);
        return new StringBuilder().appendCodePoint(Character.toTitleCase(first))
                .append(s.substring(Character.charCount(first)).toLowerCase(java.util.Locale.ROOT)).toString();
    }

    static String replace(String s, String old, String replacement, long count, Budget budget, int line) {
        if (count < 0) {
            if (!old.isEmpty()) {
                long hits = 0;
                for (int i = s.indexOf(old); i >= 0; i = s.indexOf(old, i + old.length())) {
                    hits++;
                }
                budget.checkLength(s.length() + hits * (replacement.length() - old.length()), line);
            } else {
                budget.checkLength(s.length() + (s.length() + 1L) * replacement.length(), line);
            }
            return budget.built(s.replace(old, replacement), line);
        }
        StringBuilder b = new StringBuilder();
        int start = 0;
        for (long n = 0; n < count; n++) {
            int i = old.isEmpty() ? (start <= s.length() ? start : -1) : s.indexOf(old, start);
            if (i < 0) {
                break;
            }
            b.append(s, start, i).append(replacement);
            if (old.isEmpty()) {
                if (i < s.length()) {
                    b.append(s.charAt(i));
                }
                start = i + 1;
            } else {
                start = i + old.length();
            }
            budget.checkLength(b.length(), line);
        }
        if (start <= s.length()) {
            b.append(s.substring(start));
        }
        return budget.built(b.toString(), line);
    }
}
