package io.kvpilot.engine.template;

import io.kvpilot.engine.template.Node.Args;
import io.kvpilot.engine.template.Node.Expr;
import io.kvpilot.engine.template.Node.Stmt;
import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Values.Function;
import io.kvpilot.engine.template.Values.Namespace;
import io.kvpilot.engine.template.Values.Range;
import io.kvpilot.engine.template.Values.Tuple;
import io.kvpilot.engine.template.Values.Undefined;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Walks the parsed template over the context. Text the context supplies is only ever appended to the output or
 * handed to the built-in operations as a value: it is never parsed, so a message cannot inject template code.
 */
final class Interpreter {

    private enum Flow { NORMAL, BREAK, CONTINUE }

    /** Variables of one template, loop iteration or macro call; lookups fall through to the enclosing one. */
    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                Object v = s.vars.get(name);
                if (v != null || s.vars.containsKey(name)) {
                    return v;
                }
            }
            return Undefined.named(name);
        }
    }

    /** The {@code loop} variable of a for loop. */
    static final class Loop {
        final List<Object> items;
        final Range range;
        final long length;
        long index0;

        Loop(List<Object> items, Range range, long length) {
            this.items = items;
            this.range = range;
            this.length = length;
        }
    }

    final Budget budget;
    final Builtins builtins;
    private Scope scope;

    Interpreter(Map<String, Object> context, Builtins builtins, Budget budget) {
        this.builtins = builtins;
        this.budget = budget;
        Scope globals = new Scope(null);
        globals.vars.putAll(builtins.globals());
        this.scope = new Scope(globals);
        scope.vars.putAll(context);
    }

    String render(List<Stmt> template) {
        StringBuilder out = new StringBuilder();
        execute(template, out);
        return out.toString();
    }

    // ---- statements

    private Flow execute(List<Stmt> body, StringBuilder out) {
        for (Stmt s : body) {
            Flow flow = execute(s, out);
            if (flow != Flow.NORMAL) {
                return flow;
            }
        }
        return Flow.NORMAL;
    }

    private Flow execute(Stmt stmt, StringBuilder out) {
        if (stmt instanceof Node.Text t) {
            append(out, t.text(), 0);
        } else if (stmt instanceof Node.Print p) {
            append(out, Py.str(eval(p.value())), p.value().line());
        } else if (stmt instanceof Node.If f) {
            for (int i = 0; i < f.tests().size(); i++) {
                if (Py.truthy(eval(f.tests().get(i)))) {
                    return execute(f.bodies().get(i), out);
                }
            }
            return execute(f.otherwise(), out);
        } else if (stmt instanceof Node.For f) {
            return loop(f, out);
        } else if (stmt instanceof Node.Set s) {
            Object value;
            if (s.body() != null) {
                StringBuilder captured = new StringBuilder();
                execute(s.body(), captured);
                value = captured.toString();
            } else {
                value = eval(s.value());
            }
            assign(s.target(), value, s.line());
        } else if (stmt instanceof Node.Macro m) {
            scope.vars.put(m.name(), macro(m, scope));
        } else if (stmt instanceof Node.LoopControl c) {
            return c.isBreak() ? Flow.BREAK : Flow.CONTINUE;
        }
        return Flow.NORMAL;
    }

    private void append(StringBuilder out, String text, int line) {
        budget.checkLength((long) out.length() + text.length(), line);
        out.append(text);
    }

    private Flow loop(Node.For f, StringBuilder out) {
        Object iterable = eval(f.iterable());
        List<Object> items;
        long length;
        if (iterable instanceof Range r && f.filter() == null) {
            items = null;
            length = r.size();
        } else {
            items = new ArrayList<>();
            Iterator<Object> it = Py.iterate(iterable, f.line());
            while (it.hasNext()) {
                budget.iterate(f.line());
                Object item = it.next();
                if (f.filter() == null || passes(f, item)) {
                    items.add(item);
                }
            }
            length = items.size();
        }
        if (length == 0) {
            return execute(f.otherwise(), out);
        }
        Scope outer = scope;
        Loop loop = new Loop(items, items == null ? (Range) iterable : null, length);
        try {
            for (long i = 0; i < length; i++) {
                budget.iterate(f.line());
                scope = new Scope(outer);
                loop.index0 = i;
                scope.vars.put("loop", loop);
                bind(f.target(), items == null ? ((Range) iterable).get(i) : items.get((int) i), f.line());
                if (execute(f.body(), out) == Flow.BREAK) {
                    break;
                }
            }
        } finally {
            scope = outer;
        }
        return Flow.NORMAL;
    }

    private boolean passes(Node.For f, Object item) {
        Scope outer = scope;
        scope = new Scope(outer);
        try {
            bind(f.target(), item, f.line());
            return Py.truthy(eval(f.filter()));
        } finally {
            scope = outer;
        }
    }

    private void assign(Node.Target target, Object value, int line) {
        if (target.attribute() == null) {
            bind(target, value, line);
            return;
        }
        Object ns = scope.lookup(target.names().get(0));
        if (!(ns instanceof Namespace n)) {
            throw TemplateException.at(Kind.TYPE, line, "cannot assign attribute on non-namespace object");
        }
        n.attributes.put(target.attribute(), value);
    }

    private void bind(Node.Target target, Object value, int line) {
        if (!target.unpack()) {
            scope.vars.put(target.names().get(0), value);
            return;
        }
        List<Object> parts = new ArrayList<>();
        Py.iterate(value, line).forEachRemaining(parts::add);
        if (parts.size() != target.names().size()) {
            throw TemplateException.at(Kind.TYPE, line, "cannot unpack " + parts.size() + " values into "
                    + target.names().size() + " names");
        }
        for (int i = 0; i < parts.size(); i++) {
            scope.vars.put(target.names().get(i), parts.get(i));
        }
    }

    private Function macro(Node.Macro m, Scope definedIn) {
        return (positional, named, in, line) -> {
            if (positional.size() > m.params().size()) {
                throw TemplateException.at(Kind.TYPE, line, "macro '" + m.name() + "' takes not more than "
                        + m.params().size() + " argument(s)");
            }
            budget.enterCall(line);
            Scope caller = scope;
            scope = new Scope(definedIn);
            try {
                for (int i = 0; i < m.params().size(); i++) {
                    String p = m.params().get(i);
                    Object v;
                    if (i < positional.size()) {
                        v = positional.get(i);
                    } else if (named.containsKey(p)) {
                        v = named.get(p);
                    } else if (m.defaults().get(i) != null) {
                        v = eval(m.defaults().get(i));
                    } else {
                        v = Undefined.named(p);
                    }
                    scope.vars.put(p, v);
                }
                for (String name : named.keySet()) {
                    if (!m.params().contains(name)) {
                        throw TemplateException.at(Kind.TYPE, line, "macro '" + m.name()
                                + "' takes no keyword argument '" + name + "'");
                    }
                }
                StringBuilder out = new StringBuilder();
                execute(m.body(), out);
                return out.toString();
            } finally {
                scope = caller;
                budget.exitCall();
            }
        };
    }

    // ---- expressions

    Object eval(Expr e) {
        if (e instanceof Node.Literal l) {
            return l.value();
        } else if (e instanceof Node.Name n) {
            return scope.lookup(n.name());
        } else if (e instanceof Node.GetAttr g) {
            return getAttr(eval(g.target()), g.name(), g.line());
        } else if (e instanceof Node.GetItem g) {
            return getItem(eval(g.target()), eval(g.key()), g.line());
        } else if (e instanceof Node.Call c) {
            return call(eval(c.function()), c.args(), c.line());
        } else if (e instanceof Node.Filter f) {
            return builtins.filter(f.name(), eval(f.value()), values(f.args().positional()), named(f.args()), this,
                    f.line());
        } else if (e instanceof Node.Test t) {
            return t.negated() != builtins.test(t.name(), eval(t.value()), values(t.args().positional()),
                    named(t.args()), this, t.line());
        } else if (e instanceof Node.Binary b) {
            return binary(b);
        } else if (e instanceof Node.Compare c) {
            return compare(c);
        } else if (e instanceof Node.Unary u) {
            return unary(u);
        } else if (e instanceof Node.Conditional c) {
            return Py.truthy(eval(c.test())) ? eval(c.then()) : c.otherwise() != null ? eval(c.otherwise())
                    : new Undefined("the inline if-expression evaluated to false and no else section was defined");
        } else if (e instanceof Node.ListExpr l) {
            List<Object> items = new ArrayList<>(l.items().size());
            for (Expr item : l.items()) {
                items.add(eval(item));
            }
            return l.tuple() ? new Tuple(items) : Collections.unmodifiableList(items);
        } else if (e instanceof Node.DictExpr d) {
            Map<Object, Object> map = new LinkedHashMap<>();
            for (int i = 0; i < d.keys().size(); i++) {
                map.put(eval(d.keys().get(i)), eval(d.values().get(i)));
            }
            return Collections.unmodifiableMap(map);
        } else {
            Node.Slice s = (Node.Slice) e;
            return Ops.slice(eval(s.target()), optional(s.start()), optional(s.stop()), optional(s.step()), budget,
                    s.line());
        }
    }

    private Object optional(Expr e) {
        return e == null ? null : eval(e);
    }

    private List<Object> values(List<Expr> exprs) {
        List<Object> out = new ArrayList<>(exprs.size());
        for (Expr e : exprs) {
            out.add(eval(e));
        }
        return out;
    }

    private Map<String, Object> named(Args args) {
        if (args.named().isEmpty()) {
            return Map.of();
        }
        Map<String, Object> out = new LinkedHashMap<>();
        args.named().forEach((k, v) -> out.put(k, eval(v)));
        return out;
    }

    Object call(Object function, Args args, int line) {
        return call(function, values(args.positional()), named(args), line);
    }

    Object call(Object function, List<Object> positional, Map<String, Object> named, int line) {
        if (function instanceof Function f) {
            return f.call(positional, named, this, line);
        }
        if (function instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        throw TemplateException.at(Kind.TYPE, line, "'" + Py.typeName(function) + "' object is not callable");
    }

    Object getAttr(Object target, String name, int line) {
        if (target instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        if (name.startsWith("_")) {
            return new Undefined("access to attribute '" + name + "' is not allowed");
        }
        if (target instanceof Loop loop) {
            return loopAttribute(loop, name, line);
        }
        if (target instanceof Namespace n) {
            Object v = n.attributes.get(name);
            return v != null || n.attributes.containsKey(name) ? v : missing(target, name);
        }
        Function method = Methods.bind(target, name, budget);
        if (method != null) {
            return method;
        }
        if (target instanceof Map<?, ?> m && m.containsKey(name)) {
            return m.get(name);
        }
        return missing(target, name);
    }

    private static Undefined missing(Object target, String name) {
        return new Undefined("'" + Py.typeName(target) + " object' has no attribute '" + name + "'");
    }

    Object getItem(Object target, Object key, int line) {
        if (target instanceof Undefined u) {
            throw TemplateException.at(Kind.TYPE, line, u.description());
        }
        if (target instanceof Map<?, ?> m) {
            Object k = key instanceof Boolean b ? (Object) (b ? 1L : 0L) : key;
            if (m.containsKey(k)) {
                return m.get(k);
            }
        } else if ((target instanceof List || target instanceof String || target instanceof Range)
                && Py.isInt(key)) {
            long i = Py.asLong(key);
            long n = Py.length(target, line);
            if (i < 0) {
                i += n;
            }
            if (i < 0 || i >= n) {
                return new Undefined("index out of range");
            }
            if (target instanceof List<?> l) {
                return l.get((int) i);
            }
            if (target instanceof Range r) {
                return r.get(i);
            }
            String s = (String) target;
            return new String(Character.toChars(s.codePointAt(s.offsetByCodePoints(0, (int) i))));
        }
        if (key instanceof String name) {
            return getAttr(target, name, line);
        }
        return new Undefined("no item for that key");
    }

    private Object loopAttribute(Loop loop, String name, int line) {
        long i = loop.index0;
        return switch (name) {
            case "index" -> i + 1;
            case "index0" -> i;
            case "revindex" -> loop.length - i;
            case "revindex0" -> loop.length - i - 1;
            case "first" -> i == 0;
            case "last" -> i == loop.length - 1;
            case "length" -> loop.length;
            case "depth" -> 1L;
            case "depth0" -> 0L;
            case "previtem" -> i > 0 ? item(loop, i - 1) : new Undefined("there is no previous item");
            case "nextitem" -> i < loop.length - 1 ? item(loop, i + 1) : new Undefined("there is no next item");
            case "cycle" -> (Function) (args, named, in, l) -> {
                if (args.isEmpty()) {
                    throw TemplateException.at(Kind.TYPE, l, "no items for cycling given");
                }
                return args.get((int) (loop.index0 % args.size()));
            };
            default -> new Undefined("'loop' has no attribute '" + name + "'");
        };
    }

    private static Object item(Loop loop, long i) {
        return loop.items == null ? loop.range.get(i) : loop.items.get((int) i);
    }

    private Object unary(Node.Unary u) {
        Object v = eval(u.operand());
        if (u.op().equals("not")) {
            return !Py.truthy(v);
        }
        if (v instanceof Double d) {
            return u.op().equals("-") ? -d : d;
        }
        if (Py.isInt(v)) {
            long l = Py.asLong(v);
            if (u.op().equals("-") && l == Long.MIN_VALUE) {
                throw TemplateException.at(Kind.LIMIT, u.line(), "integer overflow");
            }
            return u.op().equals("-") ? -l : l;
        }
        if (v instanceof Undefined x) {
            throw TemplateException.at(Kind.TYPE, u.line(), x.description());
        }
        throw TemplateException.at(Kind.TYPE, u.line(), "bad operand type for unary " + u.op() + ": '"
                + Py.typeName(v) + "'");
    }

    private Object binary(Node.Binary b) {
        Object left = eval(b.left());
        switch (b.op()) {
            case "and" -> {
                return Py.truthy(left) ? eval(b.right()) : left;
            }
            case "or" -> {
                return Py.truthy(left) ? left : eval(b.right());
            }
            case "~" -> {
                return budget.built(Py.str(left) + Py.str(eval(b.right())), b.line());
            }
            default -> {
                return Ops.arithmetic(b.op(), left, eval(b.right()), budget, b.line());
            }
        }
    }

    private Object compare(Node.Compare c) {
        Object left = eval(c.first());
        for (int i = 0; i < c.ops().size(); i++) {
            Object right = eval(c.rest().get(i));
            if (!Ops.compare(c.ops().get(i), left, right, c.line())) {
                return false;
            }
            left = right;
        }
        return true;
    }
}
