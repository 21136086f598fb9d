package io.kvpilot.engine.template;

/** One lexical token; {@code text} is the data, name, operator or the decoded value of a literal. */
record Token(Type type, String text, int line) {

    enum Type { DATA, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF }

    boolean is(Type t, String s) {
        return type == t && text.equals(s);
    }

    boolean isName(String s) {
        return is(Type.NAME, s);
    }

    boolean isOp(String s) {
        return is(Type.OPERATOR, s);
    }
}
