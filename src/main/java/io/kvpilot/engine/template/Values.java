package io.kvpilot.engine.template;

import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The only kinds of value a template can hold besides null (None), Boolean, Long, Double, String, {@link List}
 * and {@link Map}: there is no path from any of them to a Java object, a class or the file system.
 */
final class Values {

    private Values() {}

    /** jinja2's default Undefined: prints as '', is false, iterates as empty; anything more is an error. */
    record Undefined(String description) {
        static Undefined named(String name) {
            return new Undefined("'" + name + "' is undefined");
        }
    }

    /** {@code namespace(...)}: the one mutable value, so that a loop body can carry state out of the loop. */
    static final class Namespace {
        final Map<String, Object> attributes = new LinkedHashMap<>();
    }

    /** A Python tuple: a list that prints with parentheses and never equals a list. */
    static final class Tuple extends AbstractList<Object> {
        private final List<Object> items;

        Tuple(List<Object> items) {
            this.items = Collections.unmodifiableList(new ArrayList<>(items));
        }

        @Override
        public Object get(int index) {
            return items.get(index);
        }

        @Override
        public int size() {
            return items.size();
        }
    }

    /** {@code range(...)}, iterated lazily so that {@code range(10**9)} costs nothing until looped over. */
    record Range(long start, long stop, long step) {
        long size() {
            if (step > 0) {
                return stop > start ? (stop - start + step - 1) / step : 0;
            }
            return start > stop ? (start - stop - step - 1) / -step : 0;
        }

        long get(long i) {
            return start + i * step;
        }
    }

    /** A function a template may call: a global, a macro, or a method bound to a string, list or dict. */
    @FunctionalInterface
    interface Function {
        Object call(List<Object> positional, Map<String, Object> named, Interpreter interpreter, int line);
    }
}
