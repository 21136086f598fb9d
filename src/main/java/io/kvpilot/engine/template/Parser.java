package io.kvpilot.engine.template;

import io.kvpilot.engine.template.Node.Args;
import io.kvpilot.engine.template.Node.Expr;
import io.kvpilot.engine.template.Node.Stmt;
import io.kvpilot.engine.template.TemplateException.Kind;
import io.kvpilot.engine.template.Token.Type;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recursive descent over the tokens, following jinja2's parser rule by rule (precedence from loosest: conditional,
 * or, and, not, comparisons and {@code in}, {@code + -}, {@code ~}, {@code * / // %}, {@code **}, unary minus, then
 * postfix {@code . [] ()}, filters and tests). Tags that would reach outside the template (include, import, extends,
 * from) are refused here, so no render can ever load anything.
 */
final class Parser {

    private static final int MAX_NESTING = 200;
    private static final Set<String> REFUSED = Set.of("include", "import", "extends", "from", "block");
    private static final Set<String> COMPARE = Set.of("==", "!=", "<", ">", "<=", ">=");

    private final List<Token> tokens;
    private int at;
    private int depth;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static List<Stmt> parse(String source) {
        Parser p = new Parser(Lexer.tokenize(source));
        return p.body();
    }

    // ---- statements

    private List<Stmt> body(String... ends) {
        List<Stmt> out = new ArrayList<>();
        while (true) {
            Token t = peek();
            switch (t.type()) {
                case EOF -> {
                    if (ends.length > 0) {
                        throw error(t, "unexpected end of template, expected '" + String.join("' or '", ends) + "'");
                    }
                    return out;
                }
                case DATA -> {
                    out.add(new Node.Text(t.text()));
                    at++;
                }
                case VAR_BEGIN -> {
                    at++;
                    out.add(new Node.Print(tuple(true)));
                    expect(Type.VAR_END, "end of print statement");
                }
                case BLOCK_BEGIN -> {
                    Token name = tokens.get(at + 1);
                    for (String end : ends) {
                        if (name.isName(end)) {
                            at++;
                            return out;
                        }
                    }
                    at++;
                    out.addAll(statement());
                }
                default -> throw error(t, "unexpected '" + t.text() + "'");
            }
        }
    }

    private List<Stmt> statement() {
        Token tag = expect(Type.NAME, "a tag name");
        String name = tag.text();
        if (REFUSED.contains(name)) {
            throw TemplateException.at(Kind.UNSUPPORTED, tag.line(), "'" + name + "' is not allowed: a chat template "
                    + "renders on its own, without files or other templates");
        }
        return switch (name) {
            case "if" -> List.of(ifStatement());
            case "for" -> List.of(forStatement(tag));
            case "set" -> List.of(setStatement(tag));
            case "macro" -> List.of(macro(tag));
            case "break", "continue" -> {
                blockEnd();
                yield List.of(new Node.LoopControl(name.equals("break")));
            }
            case "generation" -> { // transformers' assistant-mask extension: renders its body unchanged
                blockEnd();
                List<Stmt> inner = body("endgeneration");
                at++;
                blockEnd();
                yield inner;
            }
            default -> throw TemplateException.at(Kind.UNSUPPORTED, tag.line(), "unknown or unsupported tag '"
                    + name + "'");
        };
    }

    private Stmt ifStatement() {
        List<Expr> tests = new ArrayList<>();
        List<List<Stmt>> bodies = new ArrayList<>();
        List<Stmt> otherwise = List.of();
        tests.add(tuple(false));
        blockEnd();
        while (true) {
            bodies.add(body("elif", "else", "endif"));
            Token t = next();
            if (t.isName("elif")) {
                tests.add(tuple(false));
                blockEnd();
            } else if (t.isName("else")) {
                blockEnd();
                otherwise = body("endif");
                at++;
                blockEnd();
                break;
            } else {
                blockEnd();
                break;
            }
        }
        return new Node.If(tests, bodies, otherwise);
    }

    private Stmt forStatement(Token tag) {
        Node.Target target = target(false);
        expectName("in");
        Expr iterable = tuple(false);
        Expr filter = null;
        if (skipName("if")) {
            filter = expression();
        }
        if (peek().isName("recursive")) {
            throw TemplateException.at(Kind.UNSUPPORTED, tag.line(), "recursive loops are not supported");
        }
        blockEnd();
        List<Stmt> body = body("endfor", "else");
        List<Stmt> otherwise = List.of();
        if (next().isName("else")) {
            blockEnd();
            otherwise = body("endfor");
            at++;
        }
        blockEnd();
        return new Node.For(target, iterable, filter, body, otherwise, tag.line());
    }

    private Stmt setStatement(Token tag) {
        Node.Target target = target(true);
        if (skipOp("=")) {
            Expr value = tuple(true);
            blockEnd();
            return new Node.Set(target, value, null, tag.line());
        }
        if (peek().isOp("|")) {
            throw TemplateException.at(Kind.UNSUPPORTED, tag.line(), "filters on block assignments are not supported");
        }
        blockEnd();
        List<Stmt> body = body("endset");
        at++;
        blockEnd();
        return new Node.Set(target, null, body, tag.line());
    }

    private Stmt macro(Token tag) {
        String name = expect(Type.NAME, "a macro name").text();
        expectOp("(");
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        while (!skipOp(")")) {
            if (!params.isEmpty()) {
                expectOp(",");
                if (skipOp(")")) {
                    break;
                }
            }
            params.add(expect(Type.NAME, "a parameter name").text());
            if (skipOp("=")) {
                defaults.add(expression());
            } else if (defaults.stream().anyMatch(d -> d != null)) {
                throw error(peek(), "non-default argument follows default argument");
            } else {
                defaults.add(null);
            }
        }
        blockEnd();
        List<Stmt> body = body("endmacro");
        at++;
        if (peek().type() == Type.NAME) {
            at++;
        }
        blockEnd();
        return new Node.Macro(name, params, defaults, body, tag.line());
    }

    private Node.Target target(boolean allowAttribute) {
        boolean parens = skipOp("(");
        Token first = expect(Type.NAME, "a variable name");
        if (allowAttribute && !parens && skipOp(".")) {
            return new Node.Target(List.of(first.text()), false, expect(Type.NAME, "an attribute name").text());
        }
        List<String> names = new ArrayList<>(List.of(first.text()));
        boolean unpack = parens;
        while (skipOp(",")) {
            unpack = true;
            if (peek().type() != Type.NAME) {
                break;
            }
            names.add(next().text());
        }
        if (parens) {
            expectOp(")");
        }
        return new Node.Target(names, unpack, null);
    }

    // ---- expressions

    private Expr tuple(boolean withConditional) {
        int line = peek().line();
        List<Expr> items = new ArrayList<>();
        boolean isTuple = false;
        while (true) {
            if (!items.isEmpty()) {
                expectOp(",");
            }
            if (tupleEnds()) {
                break;
            }
            items.add(withConditional ? expression() : or());
            if (peek().isOp(",")) {
                isTuple = true;
            } else {
                break;
            }
        }
        if (!isTuple) {
            if (items.isEmpty()) {
                throw error(peek(), "expected an expression");
            }
            return items.get(0);
        }
        return new Node.ListExpr(items, true, line);
    }

    private boolean tupleEnds() {
        Token t = peek();
        return t.type() == Type.VAR_END || t.type() == Type.BLOCK_END || t.isOp(")") || t.isName("recursive")
                || t.isName("if") || t.isName("in");
    }

    private Expr expression() {
        if (++depth > MAX_NESTING) {
            throw TemplateException.at(Kind.LIMIT, peek().line(), "expressions nested too deeply");
        }
        Expr e = or();
        while (skipName("if")) {
            Expr test = or();
            Expr otherwise = skipName("else") ? expression() : null;
            e = new Node.Conditional(test, e, otherwise, test.line());
        }
        depth--;
        return e;
    }

    private Expr or() {
        Expr e = and();
        while (peek().isName("or")) {
            int line = next().line();
            e = new Node.Binary("or", e, and(), line);
        }
        return e;
    }

    private Expr and() {
        Expr e = not();
        while (peek().isName("and")) {
            int line = next().line();
            e = new Node.Binary("and", e, not(), line);
        }
        return e;
    }

    private Expr not() {
        if (peek().isName("not")) {
            int line = next().line();
            return new Node.Unary("not", not(), line);
        }
        return compare();
    }

    private Expr compare() {
        Expr first = math1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            Token t = peek();
            if (t.type() == Type.OPERATOR && COMPARE.contains(t.text())) {
                at++;
                ops.add(t.text());
            } else if (t.isName("in")) {
                at++;
                ops.add("in");
            } else if (t.isName("not") && tokens.get(at + 1).isName("in")) {
                at += 2;
                ops.add("not in");
            } else {
                break;
            }
            rest.add(math1());
        }
        return ops.isEmpty() ? first : new Node.Compare(first, ops, rest, first.line());
    }

    private Expr math1() {
        Expr e = concat();
        while (peek().isOp("+") || peek().isOp("-")) {
            Token op = next();
            e = new Node.Binary(op.text(), e, concat(), op.line());
        }
        return e;
    }

    private Expr concat() {
        Expr e = math2();
        while (peek().isOp("~")) {
            Token op = next();
            e = new Node.Binary("~", e, math2(), op.line());
        }
        return e;
    }

    private Expr math2() {
        Expr e = pow();
        while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
            Token op = next();
            e = new Node.Binary(op.text(), e, pow(), op.line());
        }
        return e;
    }

    private Expr pow() {
        Expr e = unary(true);
        while (peek().isOp("**")) {
            Token op = next();
            e = new Node.Binary("**", e, unary(true), op.line());
        }
        return e;
    }

    private Expr unary(boolean withFilter) {
        if (++depth > MAX_NESTING) {
            throw TemplateException.at(Kind.LIMIT, peek().line(), "expressions nested too deeply");
        }
        Token t = peek();
        Expr e;
        if (t.isOp("-") || t.isOp("+")) {
            at++;
            e = new Node.Unary(t.text(), unary(false), t.line());
        } else {
            e = primary();
        }
        e = postfix(e);
        if (withFilter) {
            e = filters(e);
        }
        depth--;
        return e;
    }

    private Expr primary() {
        Token t = next();
        switch (t.type()) {
            case NAME -> {
                return switch (t.text()) {
                    case "true", "True" -> new Node.Literal(Boolean.TRUE, t.line());
                    case "false", "False" -> new Node.Literal(Boolean.FALSE, t.line());
                    case "none", "None" -> new Node.Literal(null, t.line());
                    default -> new Node.Name(t.text(), t.line());
                };
            }
            case STRING -> {
                StringBuilder s = new StringBuilder(t.text());
                while (peek().type() == Type.STRING) {
                    s.append(next().text());
                }
                return new Node.Literal(s.toString(), t.line());
            }
            case INTEGER -> {
                try {
                    return new Node.Literal(Long.parseLong(t.text()), t.line());
                } catch (NumberFormatException e) {
                    throw TemplateException.at(Kind.LIMIT, t.line(), "integer literal out of range");
                }
            }
            case FLOAT -> {
                return new Node.Literal(Double.parseDouble(t.text()), t.line());
            }
            case OPERATOR -> {
                if (t.text().equals("(")) {
                    if (skipOp(")")) {
                        return new Node.ListExpr(List.of(), true, t.line());
                    }
                    Expr e = tuple(true);
                    expectOp(")");
                    return e;
                }
                if (t.text().equals("[")) {
                    List<Expr> items = new ArrayList<>();
                    while (!skipOp("]")) {
                        if (!items.isEmpty()) {
                            expectOp(",");
                            if (skipOp("]")) {
                                break;
                            }
                        }
                        items.add(expression());
                    }
                    return new Node.ListExpr(items, false, t.line());
                }
                if (t.text().equals("{")) {
                    List<Expr> keys = new ArrayList<>();
                    List<Expr> values = new ArrayList<>();
                    while (!skipOp("}")) {
                        if (!keys.isEmpty()) {
                            expectOp(",");
                            if (skipOp("}")) {
                                break;
                            }
                        }
                        keys.add(expression());
                        expectOp(":");
                        values.add(expression());
                    }
                    return new Node.DictExpr(keys, values, t.line());
                }
                throw error(t, "unexpected '" + t.text() + "'");
            }
            default -> throw error(t, "unexpected " + describe(t));
        }
    }

    private Expr postfix(Expr e) {
        while (true) {
            Token t = peek();
            if (t.isOp(".")) {
                at++;
                Token name = next();
                if (name.type() == Type.NAME) {
                    e = new Node.GetAttr(e, name.text(), t.line());
                } else if (name.type() == Type.INTEGER) {
                    e = new Node.GetItem(e, new Node.Literal(Long.parseLong(name.text()), t.line()), t.line());
                } else {
                    throw error(name, "expected an attribute name");
                }
            } else if (t.isOp("[")) {
                at++;
                e = subscript(e, t.line());
            } else if (t.isOp("(")) {
                at++;
                e = new Node.Call(e, args(), t.line());
            } else {
                return e;
            }
        }
    }

    private Expr subscript(Expr target, int line) {
        Expr start = null;
        if (!peek().isOp(":")) {
            start = expression();
            if (skipOp("]")) {
                return new Node.GetItem(target, start, line);
            }
        }
        expectOp(":");
        Expr stop = peek().isOp("]") || peek().isOp(":") ? null : expression();
        Expr step = null;
        if (skipOp(":") && !peek().isOp("]")) {
            step = expression();
        }
        expectOp("]");
        return new Node.Slice(target, start, stop, step, line);
    }

    /** Call arguments after the opening parenthesis, through the closing one. */
    private Args args() {
        List<Expr> positional = new ArrayList<>();
        Map<String, Expr> named = new LinkedHashMap<>();
        boolean first = true;
        while (!skipOp(")")) {
            if (!first) {
                expectOp(",");
                if (skipOp(")")) {
                    break;
                }
            }
            first = false;
            if (peek().isOp("*") || peek().isOp("**")) {
                throw TemplateException.at(Kind.UNSUPPORTED, peek().line(), "*args and **kwargs are not supported");
            }
            if (peek().type() == Type.NAME && tokens.get(at + 1).isOp("=")) {
                String name = next().text();
                at++;
                named.put(name, expression());
            } else {
                if (!named.isEmpty()) {
                    throw error(peek(), "positional argument follows keyword argument");
                }
                positional.add(expression());
            }
        }
        return new Args(positional, named);
    }

    private Expr filters(Expr e) {
        while (true) {
            Token t = peek();
            if (t.isOp("|")) {
                at++;
                String name = dottedName();
                Args args = skipOp("(") ? args() : Args.NONE;
                e = new Node.Filter(e, name, args, t.line());
            } else if (t.isName("is")) {
                at++;
                boolean negated = skipName("not");
                String name = dottedName();
                Args args = Args.NONE;
                Token a = peek();
                if (skipOp("(")) {
                    args = args();
                } else if ((a.type() == Type.NAME || a.type() == Type.STRING || a.type() == Type.INTEGER
                        || a.type() == Type.FLOAT || a.isOp("(") || a.isOp("[") || a.isOp("{"))
                        && !a.isName("else") && !a.isName("or") && !a.isName("and")) {
                    if (a.isName("is")) {
                        throw error(a, "you cannot chain multiple tests with 'is'");
                    }
                    args = new Args(List.of(postfix(primary())), Map.of());
                }
                e = new Node.Test(e, name, args, negated, t.line());
            } else if (t.isOp("(")) {
                at++;
                e = new Node.Call(e, args(), t.line());
            } else {
                return e;
            }
        }
    }

    private String dottedName() {
        StringBuilder name = new StringBuilder(expect(Type.NAME, "a name").text());
        while (peek().isOp(".")) {
            at++;
            name.append('.').append(expect(Type.NAME, "a name").text());
        }
        return name.toString();
    }

    // ---- token stream

    private Token peek() {
        return tokens.get(at);
    }

    private Token next() {
        Token t = tokens.get(at);
        if (t.type() != Type.EOF) {
            at++;
        }
        return t;
    }

    private boolean skipOp(String op) {
        if (peek().isOp(op)) {
            at++;
            return true;
        }
        return false;
    }

    private boolean skipName(String name) {
        if (peek().isName(name)) {
            at++;
            return true;
        }
        return false;
    }

    private Token expect(Type type, String what) {
        Token t = peek();
        if (t.type() != type) {
            throw error(t, "expected " + what + ", got " + describe(t));
        }
        return next();
    }

    private void expectOp(String op) {
        if (!skipOp(op)) {
            throw error(peek(), "expected '" + op + "', got " + describe(peek()));
        }
    }

    private void expectName(String name) {
        if (!skipName(name)) {
            throw error(peek(), "expected '" + name + "', got " + describe(peek()));
        }
    }

    private void blockEnd() {
        expect(Type.BLOCK_END, "end of statement block");
    }

    private static String describe(Token t) {
        return switch (t.type()) {
            case EOF -> "end of template";
            case BLOCK_END, VAR_END -> "end of tag";
            case STRING -> "a string";
            case DATA -> "template text";
            default -> "'" + t.text() + "'";
        };
    }

    private static TemplateException error(Token t, String message) {
        return TemplateException.at(Kind.SYNTAX, t.line(), message);
    }
}
