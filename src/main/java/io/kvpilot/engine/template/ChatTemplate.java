package io.kvpilot.engine.template;

import io.kvpilot.engine.template.Node.Stmt;
import io.kvpilot.engine.template.TemplateException.Kind;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face chat template, parsed once and rendered per request the way transformers' {@code
 * apply_chat_template} renders it with jinja2 ({@code ImmutableSandboxedEnvironment}, {@code trim_blocks},
 * {@code lstrip_blocks}, loop controls, {@code tojson}, {@code raise_exception}, {@code strftime_now}).
 *
 * <p>Safe by construction rather than by a sandbox around a general engine: the interpreter knows only plain values
 * (None, booleans, integers, floats, strings, lists, dicts, namespaces) and a fixed table of functions, filters,
 * tests and methods; it has no reflection, no include/import/extends, no file or class-path access; the context's
 * strings are data and are never parsed; and every render is bounded by {@link RenderLimits}.
 */
public final class ChatTemplate {

    private final List<Stmt> body;

    private ChatTemplate(List<Stmt> body) {
        this.body = body;
    }

    /** Parses {@code source}; a template that is not valid Jinja is a {@link Kind#SYNTAX} error. */
    public static ChatTemplate compile(String source) {
        try {
            return new ChatTemplate(Parser.parse(source));
        } catch (StackOverflowError e) {
            throw new TemplateException(Kind.LIMIT, "template nested too deeply");
        }
    }

    /**
     * Renders with {@code context} (Strings, Booleans, Numbers, null, Lists and Maps of those; converted to template
     * values on the way in). Throws only {@link TemplateException}.
     */
    public String render(Map<String, ?> context, RenderLimits limits, Clock clock) {
        Map<String, Object> values = new LinkedHashMap<>();
        context.forEach((k, v) -> values.put(k, value(v, 0)));
        try {
            return new Interpreter(values, new Builtins(clock), new Budget(limits)).render(body);
        } catch (TemplateException e) {
            throw e;
        } catch (StackOverflowError e) {
            throw new TemplateException(Kind.LIMIT, "template evaluation nested too deeply");
        } catch (RuntimeException e) {
            // a combination of values this interpreter does not handle; named by type only, never by value
            throw new TemplateException(Kind.TYPE, "unsupported operation (" + e.getClass().getSimpleName() + ")");
        }
    }

    private static Object value(Object v, int depth) {
        if (depth > Py.MAX_DEPTH) {
            throw new IllegalArgumentException("context nested too deeply");
        }
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long || v instanceof Double) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        if (v instanceof List<?> l) {
            List<Object> out = new ArrayList<>(l.size());
            l.forEach(x -> out.add(value(x, depth + 1)));
            return Collections.unmodifiableList(out);
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(value(k, depth + 1), value(x, depth + 1)));
            return Collections.unmodifiableMap(out);
        }
        throw new IllegalArgumentException("a chat template context holds only plain values, not "
                + v.getClass().getSimpleName());
    }
}
