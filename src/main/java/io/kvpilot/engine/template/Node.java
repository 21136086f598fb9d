package io.kvpilot.engine.template;

import java.util.List;
import java.util.Map;

/** The parsed template: statements that write output and expressions that compute values. */
sealed interface Node {

    /** Arguments of a call, filter or test: positional, then by name (in the order written). */
    record Args(List<Expr> positional, Map<String, Expr> named) {
        static final Args NONE = new Args(List.of(), Map.of());
    }

    /** Where a {@code set} or {@code for} stores: one name, several (unpacking), or a namespace attribute. */
    record Target(List<String> names, boolean unpack, String attribute) {}

    sealed interface Expr extends Node {
        int line();
    }

    record Literal(Object value, int line) implements Expr {}

    record Name(String name, int line) implements Expr {}

    record ListExpr(List<Expr> items, boolean tuple, int line) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values, int line) implements Expr {}

    record GetAttr(Expr target, String name, int line) implements Expr {}

    record GetItem(Expr target, Expr key, int line) implements Expr {}

    record Slice(Expr target, Expr start, Expr stop, Expr step, int line) implements Expr {}

    record Call(Expr function, Args args, int line) implements Expr {}

    record Filter(Expr value, String name, Args args, int line) implements Expr {}

    record Test(Expr value, String name, Args args, boolean negated, int line) implements Expr {}

    record Unary(String op, Expr operand, int line) implements Expr {}

    record Binary(String op, Expr left, Expr right, int line) implements Expr {}

    record Compare(Expr first, List<String> ops, List<Expr> rest, int line) implements Expr {}

    record Conditional(Expr test, Expr then, Expr otherwise, int line) implements Expr {}

    sealed interface Stmt extends Node {}

    record Text(String text) implements Stmt {}

    record Print(Expr value) implements Stmt {}

    record If(List<Expr> tests, List<List<Stmt>> bodies, List<Stmt> otherwise) implements Stmt {}

    record For(Target target, Expr iterable, Expr filter, List<Stmt> body, List<Stmt> otherwise, int line)
            implements Stmt {}

    record Set(Target target, Expr value, List<Stmt> body, int line) implements Stmt {}

    record Macro(String name, List<String> params, List<Expr> defaults, List<Stmt> body, int line) implements Stmt {}

    record LoopControl(boolean isBreak) implements Stmt {}
}
