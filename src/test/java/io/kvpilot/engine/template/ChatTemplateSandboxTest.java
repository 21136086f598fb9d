package io.kvpilot.engine.template;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.kvpilot.engine.template.TemplateException.Kind;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a template or a conversation cannot make the renderer do: evaluate message text, reach files, classes or Java
 * objects, change the caller's data, or run without bound.
 */
class ChatTemplateSandboxTest {

    static final String CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
            + "{% endfor %}";
    static final RenderLimits SMALL = new RenderLimits(10_000, 100_000, 16, Duration.ofSeconds(2));

    static String render(String template, String content) {
        return ChatTemplate.compile(template).render(context(content), RenderLimits.DEFAULTS, Clock.systemUTC());
    }

    static Map<String, Object> context(String content) {
        return Map.of("messages", List.of(Map.of("role", "user", "content", content)), "add_generation_prompt", true);
    }

    static TemplateException fails(String template, RenderLimits limits) {
        return assertThrows(TemplateException.class,
                () -> ChatTemplate.compile(template).render(context("hi"), limits, Clock.systemUTC()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ 7*7 }}", "{% include 'file:/etc/passwd' %}", "{% import 'x' as y %}{{ y }}",
        "{{ raise_exception('boom') }}", "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
        "{{ ''.__class__.__mro__ }}", "}}{%", "{#", "\\u0000 {{- -}} {%- -%}", "{% raw %}{{ x }}"})
    void messageTextIsDataRenderedLiterally(String content) {
        assertEquals("<|im_start|>user\n" + content + "<|im_end|>\n", render(CHATML, content));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{% include 'file:/etc/passwd' %}", "{% include '/proc/self/environ' %}",
        "{% import 'macros.jinja' as m %}", "{% from 'x' import y %}", "{% extends 'base.jinja' %}",
        "{% block content %}{% endblock %}"})
    void includeImportAndExtendsAreRefusedBeforeAnyRender(String template) {
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.compile(template));
        assertEquals(Kind.UNSUPPORTED, e.kind());
        assertThat(e.getMessage()).contains("not allowed");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ ''.__class__ }}", "{{ messages.__class__ }}", "{{ messages.class }}",
        "{{ messages[0].getClass }}", "{{ namespace.__globals__ }}", "{{ range.__self__ }}", "{{ self }}",
        "{{ config }}", "{{ request }}", "{{ lipsum }}", "{{ cycler }}", "{{ joiner }}"})
    void reflectionReachesNothing(String template) {
        assertEquals("", render(template, "hi"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ messages.getClass() }}", "{{ ''.__class__.__mro__ }}",
        "{{ x.__init__.__globals__ }}", "{{ raise_exception.__globals__['os'] }}", "{{ ''.getBytes() }}",
        "{{ messages[0].hashCode() }}", "{{ lipsum.__globals__.os.popen('id').read() }}",
        "{{ cycler.__init__.__globals__.os }}", "{{ range(3).__class__.forName('java.lang.Runtime') }}"})
    void reflectionCallsFailAsTemplateErrors(String template) {
        TemplateException e = fails(template, RenderLimits.DEFAULTS);
        assertThat(e.kind()).isIn(Kind.TYPE, Kind.UNSUPPORTED);
        assertThat(e.getMessage()).doesNotContain("java.");
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ messages.append(1) }}", "{% set _ = messages.pop() %}",
        "{% set _ = messages[0].update({'role': 'system'}) %}", "{{ messages[0].clear() }}",
        "{% set ns = namespace() %}{% set messages.x = 1 %}"})
    void theConversationCannotBeChanged(String template) {
        fails(template, RenderLimits.DEFAULTS);
    }

    @Test
    void nestedLoopsInTheTemplateStopAtTheIterationLimit() {
        long start = System.nanoTime();
        TemplateException e = fails("{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}",
                RenderLimits.DEFAULTS);
        assertEquals(Kind.LIMIT, e.kind());
        assertThat(e.getMessage()).contains("loop iterations");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(RenderLimits.DEFAULTS.timeout());
    }

    @ParameterizedTest
    @ValueSource(strings = {"{{ 'x' * 200000 }}", "{% for i in range(5000) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{{ [1] * 100000000 }}", "{{ 'x' * 9223372036854775807 }}", "{{ [1, 2] * 4611686018427387904 }}", "{{ 'ab' | replace('', 'x' * 90000) }}", "{{ 'x' | indent(1000000, true) }}"})
    void outputAndBuiltStringsStopAtTheSizeLimit(String template) {
        assertEquals(Kind.LIMIT, fails(template, SMALL).kind());
    }

    @Test
    void recursionStopsAtTheCallDepthLimit() {
        TemplateException e = fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", SMALL);
        assertEquals(Kind.LIMIT, e.kind());
        assertThat(e.getMessage()).contains("nested deeper than 16");
    }

    @Test
    void branchingRecursionIsCountedLikeALoop() {
        TemplateException e = fails("{% macro f(n) %}{% if n < 30 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}"
                + "{% endmacro %}{{ f(0) }}", RenderLimits.DEFAULTS);
        assertEquals(Kind.LIMIT, e.kind());
        assertThat(e.getMessage()).contains("loop iterations");
    }

    @Test
    void deeplyNestedTemplatesAndValuesAreLimitsNotStackOverflows() {
        assertEquals(Kind.LIMIT, assertThrows(TemplateException.class,
                () -> ChatTemplate.compile("{{ " + "(".repeat(5000) + "1" + ")".repeat(5000) + " }}")).kind());
        assertEquals(Kind.LIMIT, fails("{% set ns = namespace(v=1) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}"
                + "{% endfor %}{{ ns.v | tojson }}", SMALL).kind());
        assertEquals(Kind.LIMIT, fails("{% set ns = namespace(v=1) %}{% for i in range(5000) %}{% set ns.v = [ns.v] %}"
                + "{% endfor %}{{ ns.v }}", SMALL).kind());
    }

    @Test
    void aSlowRenderStopsAtTheDeadline() {
        RenderLimits tight = new RenderLimits(Long.MAX_VALUE, 1_000_000, 16, Duration.ofMillis(50));
        TemplateException e = fails("{% for i in range(1000000000) %}{% set x = i * 2 %}{% endfor %}", tight);
        assertEquals(Kind.LIMIT, e.kind());
        assertThat(e.getMessage()).contains("longer than 50 ms");
    }

    @Test
    void integerOverflowIsAnErrorNotAWrongNumber() {
        assertEquals(Kind.LIMIT, fails("{{ 2 ** 100 }}", SMALL).kind());
        assertEquals(Kind.LIMIT, fails("{{ 9223372036854775807 + 1 }}", SMALL).kind());
    }

    @Test
    void errorsNameTheTemplateNotTheConversation() {
        TemplateException e = assertThrows(TemplateException.class, () -> render(
                "{{ messages[0].content + 1 }}", "SECRET-71"));
        assertEquals(Kind.TYPE, e.kind());
        assertThat(e.getMessage()).doesNotContain("SECRET").contains("line 1");
    }

    @Test
    void theContextTakesOnlyPlainValues() {
        assertThrows(IllegalArgumentException.class, () -> ChatTemplate.compile("{{ x }}")
                .render(Map.of("x", new Object()), RenderLimits.DEFAULTS, Clock.systemUTC()));
    }
}
