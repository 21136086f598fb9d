package io.kvpilot.engine.template;

import io.kvpilot.engine.template.Token.Type;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Splits a template into tokens as jinja2's lexer does with Hugging Face's settings ({@code trim_blocks},
 * {@code lstrip_blocks}, no trailing newline kept): {@code -} strips all whitespace on its side, {@code +} keeps it,
 * a block or comment tag eats the one newline after it, and a block or comment tag alone on its line takes the
 * line's leading spaces with it. Whitespace is Python's ({@link Py#isSpace}).
 */
final class Lexer {

    private static final String[] OPERATORS = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~",
        "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};

    private final String src;
    private final List<Token> out = new ArrayList<>();
    private int pos;
    private int line = 1;
    private boolean lineStarting = true;

    private Lexer(String src) {
        this.src = src;
    }

    static List<Token> tokenize(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        Lexer lexer = new Lexer(s);
        lexer.root();
        lexer.out.add(new Token(Type.EOF, "", lexer.line));
        return lexer.out;
    }

    private void root() {
        while (pos < src.length()) {
            int tag = nextTag(pos);
            if (tag < 0) {
                data(src.substring(pos));
                pos = src.length();
                return;
            }
            char kind = src.charAt(tag + 1);
            char sign = tag + 2 < src.length() ? src.charAt(tag + 2) : ' ';
            boolean signed = sign == '-' || sign == '+';
            String text = src.substring(pos, tag);
            int newlines = count(text);
            if (sign == '-') {
                text = Py.rstrip(text);
            } else if (sign != '+' && kind != '{') {
                int start = text.lastIndexOf('\n') + 1;
                if ((start > 0 || lineStarting) && start < text.length() && Py.isAllSpace(text, start)) {
                    text = text.substring(0, start);
                }
            }
            data(text);
            line += newlines;
            pos = tag + 2 + (signed ? 1 : 0);
            if (kind == '#') {
                comment();
            } else if (kind == '%' && rawBegins()) {
                raw();
            } else {
                out.add(new Token(kind == '{' ? Type.VAR_BEGIN : Type.BLOCK_BEGIN, "", line));
                expression(kind == '%');
            }
        }
    }

    private int nextTag(int from) {
        for (int i = src.indexOf('{', from); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    private void data(String text) {
        if (!text.isEmpty()) {
            out.add(new Token(Type.DATA, text, line));
        }
    }

    private void comment() {
        int end = src.indexOf("#}", pos);
        if (end < 0) {
            throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "missing end of comment tag");
        }
        char before = end > pos ? src.charAt(end - 1) : ' ';
        line += count(src.substring(pos, end));
        pos = end + 2;
        blockEnd(before == '-' ? '-' : before == '+' ? '+' : ' ', true);
    }

    /** After an end tag: {@code -} eats all whitespace, none keeps it, plain eats one newline (trim_blocks). */
    private void endTag(char sign) {
        int start = pos;
        if (sign == '-') {
            while (pos < src.length() && Py.isSpace(src.charAt(pos))) {
                pos++;
            }
        }
        lineStarting = pos > start ? src.charAt(pos - 1) == '\n' : false;
        line += count(src.substring(start, pos));
    }

    private void blockEnd(char sign, boolean block) {
        if (block && sign == ' ' && pos < src.length() && src.charAt(pos) == '\n') {
            pos++;
            line++;
            lineStarting = true;
            return;
        }
        lineStarting = false;
        if (sign == '-') {
            endTag('-');
        }
    }

    private boolean rawBegins() {
        int i = skipSpace(pos);
        return src.startsWith("raw", i) && (i + 3 >= src.length() || !Character.isLetterOrDigit(src.charAt(i + 3))
                && src.charAt(i + 3) != '_') && closesAt(skipSpace(i + 3)) > 0;
    }

    private int closesAt(int i) {
        return src.startsWith("-%}", i) ? 3 : src.startsWith("%}", i) ? 2 : 0;
    }

    private void raw() {
        int i = skipSpace(skipSpace(pos) + 3);
        boolean dash = src.startsWith("-%}", i);
        pos = i + closesAt(i);
        if (dash) {
            while (pos < src.length() && Py.isSpace(src.charAt(pos))) {
                pos++;
            }
        }
        for (int tag = src.indexOf("{%", pos); tag >= 0; tag = src.indexOf("{%", tag + 1)) {
            int j = tag + 2;
            char sign = j < src.length() ? src.charAt(j) : ' ';
            if (sign == '-' || sign == '+') {
                j++;
            }
            j = skipSpace(j);
            if (!src.startsWith("endraw", j)) {
                continue;
            }
            j = skipSpace(j + 6);
            char endSign = src.startsWith("+%}", j) ? '+' : src.startsWith("-%}", j) ? '-' : ' ';
            if (endSign == ' ' && !src.startsWith("%}", j)) {
                continue;
            }
            String text = src.substring(pos, tag);
            line += count(text);
            if (sign == '-') {
                text = Py.rstrip(text);
            } else if (sign != '+') {
                int start = text.lastIndexOf('\n') + 1;
                if (start < text.length() && Py.isAllSpace(text, start)) {
                    text = text.substring(0, start);
                }
            }
            data(text);
            pos = j + (endSign == ' ' ? 2 : 3);
            blockEnd(endSign, true);
            return;
        }
        throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "missing end of raw directive");
    }

    private void expression(boolean block) {
        Deque<Character> open = new ArrayDeque<>();
        String close = block ? "%}" : "}}";
        while (true) {
            if (pos >= src.length()) {
                throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "unexpected end of template, expected '"
                        + close + "'");
            }
            if (open.isEmpty()) {
                char sign = src.charAt(pos);
                boolean signed = (sign == '-' || (block && sign == '+')) && src.startsWith(close, pos + 1);
                if (signed || src.startsWith(close, pos)) {
                    out.add(new Token(block ? Type.BLOCK_END : Type.VAR_END, "", line));
                    pos += close.length() + (signed ? 1 : 0);
                    blockEnd(signed ? sign : ' ', block);
                    return;
                }
            }
            char c = src.charAt(pos);
            if (Py.isSpace(c)) {
                if (c == '\n') {
                    line++;
                }
                pos++;
            } else if (c >= '0' && c <= '9') {
                number();
            } else if (Character.isLetter(c) || c == '_') {
                int start = pos;
                while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
                    pos++;
                }
                out.add(new Token(Type.NAME, src.substring(start, pos), line));
            } else if (c == '\'' || c == '"') {
                string(c);
            } else {
                operator(open);
            }
        }
    }

    private void number() {
        int start = pos;
        boolean afterDot = start > 0 && src.charAt(start - 1) == '.';
        digits();
        boolean isFloat = false;
        if (!afterDot && pos + 1 < src.length() && src.charAt(pos) == '.' && isDigit(pos + 1)) {
            pos++;
            digits();
            isFloat = true;
        }
        if (!afterDot && pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
            int e = pos + 1;
            if (e < src.length() && (src.charAt(e) == '+' || src.charAt(e) == '-')) {
                e++;
            }
            if (isDigit(e)) {
                pos = e;
                digits();
                isFloat = true;
            }
        }
        String text = src.substring(start, pos).replace("_", "");
        out.add(new Token(isFloat ? Type.FLOAT : Type.INTEGER, text, line));
    }

    private void digits() {
        while (pos < src.length() && (isDigit(pos) || src.charAt(pos) == '_' && isDigit(pos + 1))) {
            pos++;
        }
    }

    private boolean isDigit(int i) {
        return i < src.length() && src.charAt(i) >= '0' && src.charAt(i) <= '9';
    }

    private void string(char quote) {
        int start = ++pos;
        while (pos < src.length() && src.charAt(pos) != quote) {
            pos += src.charAt(pos) == '\\' ? 2 : 1;
        }
        if (pos >= src.length()) {
            throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "unterminated string");
        }
        String body = src.substring(start, pos++);
        out.add(new Token(Type.STRING, Py.unescape(body, line), line));
        line += count(body);
    }

    private void operator(Deque<Character> open) {
        for (String op : OPERATORS) {
            if (src.startsWith(op, pos)) {
                char c = op.charAt(0);
                if (op.length() == 1 && (c == '(' || c == '[' || c == '{')) {
                    open.push(c == '(' ? ')' : c == '[' ? ']' : '}');
                } else if (op.length() == 1 && (c == ')' || c == ']' || c == '}')) {
                    if (open.isEmpty() || open.pop() != c) {
                        throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "unexpected '" + c + "'");
                    }
                }
                out.add(new Token(Type.OPERATOR, op, line));
                pos += op.length();
                return;
            }
        }
        throw TemplateException.at(TemplateException.Kind.SYNTAX, line, "unexpected character '" + src.charAt(pos)
                + "'");
    }

    private int skipSpace(int i) {
        while (i < src.length() && Py.isSpace(src.charAt(i))) {
            i++;
        }
        return i;
    }

    private static int count(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\n') {
                n++;
            }
        }
        return n;
    }
}
