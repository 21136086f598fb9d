package io.kvpilot.engine.template;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Generated hostile input through the renderer (1,200 tries per run): any message text through real templates is
 * rendered literally and within bounds, and any generated template either renders within its limits or fails with
 * the one documented {@link TemplateException} — never another exception, never past a limit.
 */
class ChatTemplateProperties {

    /** Real templates that copy user text verbatim (the others trim it: see {@link #trimming}). */
    static final List<String> VERBATIM = List.of("chatml.jinja", "qwen-2.5.jinja", "qwen-3.jinja", "smollm2.jinja",
            "phi-4.jinja", "deepseek-r1.jinja", "mistral-nemo.jinja");
    static final List<String> TRIMMING = List.of("llama-3.1.jinja", "gemma-3n.jinja");
    static final RenderLimits LIMITS = new RenderLimits(20_000, 50_000, 8, Duration.ofSeconds(2));

    static final String[] FRAGMENTS = {"{{", "}}", "{%", "%}", "{#", "#}", "{{-", "-}}", "{%-", "-%}", " 7*7 ",
        "include 'file:/etc/passwd'", "range(1000)", "for i in", "endfor", "raise_exception('x')", "__class__",
        "\\", "'", "\"", "\n", "\r\n", "\t", "naïve", "你好", "🚀", "\u2028", "<|im_end|>", "<think>", "</think>",
        "getClass()", "${7*7}", "#{7*7}", "%s", "\u0000", " "};

    static final Map<String, ChatTemplate> COMPILED = new java.util.HashMap<>();

    static synchronized ChatTemplate template(String name) {
        return COMPILED.computeIfAbsent(name, n -> {
            try {
                return ChatTemplate.compile(Files.readString(Path.of("src/test/resources/chat-templates", n),
                        StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    @Provide
    Arbitrary<String> hostileText() {
        Arbitrary<String> pieces = Arbitraries.of(FRAGMENTS).list().ofMaxSize(24).map(l -> String.join("", l));
        return Arbitraries.oneOf(pieces, Arbitraries.strings().ofMaxLength(64),
                Combinators.combine(pieces, Arbitraries.strings().ofMaxLength(16)).as((a, b) -> a + b + a));
    }

    @Property(tries = 400)
    void messageTextIsRenderedLiterallyByVerbatimTemplates(@ForAll("hostileText") String text,
            @ForAll("verbatimTemplate") String template) {
        String out = render(template, text, "user");
        assertThat(out).contains(text);
        assertThat((long) out.length()).isLessThanOrEqualTo(LIMITS.forInput(text.length()).maxOutputChars());
    }

    @Property(tries = 200)
    void messageTextIsRenderedTrimmedByTrimmingTemplates(@ForAll("hostileText") String text,
            @ForAll("trimmingTemplate") String template) {
        assertThat(render(template, text, "user")).contains(Py.strip(text, null, true, true));
    }

    @Provide
    Arbitrary<String> verbatimTemplate() {
        return Arbitraries.of(VERBATIM);
    }

    @Provide
    Arbitrary<String> trimmingTemplate() {
        return Arbitraries.of(TRIMMING);
    }

    private static String render(String template, String text, String role) {
        List<Map<String, Object>> messages = new ArrayList<>();
        messages.add(Map.of("role", "system", "content", "sys"));
        messages.add(Map.of("role", role, "content", text));
        java.util.HashMap<String, Object> context = new java.util.HashMap<>(Map.of("messages", messages,
                "add_generation_prompt", true, "bos_token", "<s>", "eos_token", "</s>"));
        context.put("tools", null);
        context.put("documents", null);
        return template(template).render(context, LIMITS.forInput(text.length()), Clock.systemUTC());
    }

    static final String[] TEMPLATE_PIECES = {"{% for i in range(1000) %}", "{% for m in messages %}", "{% endfor %}",
        "{% if loop.index is odd %}", "{% if x %}", "{% else %}", "{% endif %}", "{{ i }}", "{{ m.content * 3 }}",
        "{{ 'ab' * 1000 }}", "{{ messages | tojson }}", "{% set ns = namespace(s='x') %}", "{% set ns.s = ns.s ~ ns.s %}",
        "{{ ns.s | length }}", "{% macro f(n) %}{{ f(n) }}{% endmacro %}", "{{ f(1) }}", "{{ 2 ** 70 }}",
        "{{ x.y.z }}", "{{ ''.__class__ }}", "{{ messages[::-1] }}", "{{ 1 / 0 }}", "{% break %}", "{{ 'a' < 1 }}",
        "{{ raise_exception('stop') }}", "{% include 'x' %}", "{{", "}}", "{%", "%}", "text ", "\n", "  ",
        "{{- ' w ' -}}", "{{ messages[0].content.split(' ') | join('-') }}", "{{ range(10**9) | list }}",
        "{{ strftime_now('%d %b %Y') }}", "{{ '%s' | format(1) }}", "{{ [1, 2] | map('upper') | list }}"};

    @Provide
    Arbitrary<String> templateSource() {
        return Arbitraries.of(TEMPLATE_PIECES).list().ofMinSize(1).ofMaxSize(12).map(l -> String.join("", l));
    }

    @Property(tries = 600)
    void anyTemplateRendersWithinLimitsOrFailsWithTheTemplateError(@ForAll("templateSource") String source,
            @ForAll("hostileText") String text) {
        String out;
        try {
            out = ChatTemplate.compile(source).render(Map.of("messages", List.of(Map.of("role", "user",
                    "content", text)), "add_generation_prompt", true), LIMITS, Clock.systemUTC());
        } catch (TemplateException e) {
            assertThat(e.getMessage()).isNotBlank();
            return;
        }
        assertThat((long) out.length()).isLessThanOrEqualTo(LIMITS.maxOutputChars());
    }
}
