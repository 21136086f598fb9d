package io.kvpilot.engine.template;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;

/**
 * Prints render costs (not a test): the Llama-3.1 template over a 3-message conversation, and how fast the
 * issue's amplification template is stopped. Run after {@code mvn test-compile}:
 * {@code java -cp target/classes:target/test-classes io.kvpilot.engine.template.RenderTiming}.
 */
public final class RenderTiming {

    private RenderTiming() {}

    public static void main(String[] args) throws Exception {
        ChatTemplate llama = ChatTemplate.compile(Files.readString(Path.of("src/test/resources/chat-templates/llama-3.1.jinja")));
        Map<String, Object> context = new java.util.HashMap<>(Map.of("messages", List.of(
                Map.of("role", "system", "content", "You are a helpful assistant."),
                Map.of("role", "user", "content", "What is the capital of France?"),
                Map.of("role", "assistant", "content", "Paris.")),
                "add_generation_prompt", true, "bos_token", "<|begin_of_text|>"));
        context.put("tools", null);
        Clock clock = Clock.systemUTC();
        for (int round = 0; round < 5; round++) {
            int n = 20_000;
            long start = System.nanoTime();
            int chars = 0;
            for (int i = 0; i < n; i++) {
                chars += llama.render(context, RenderLimits.DEFAULTS, clock).length();
            }
            System.out.printf("llama-3.1, 3 messages: %.1f us/render (%d chars)%n",
                    (System.nanoTime() - start) / 1e3 / n, chars / n);
        }
        ChatTemplate amplifier = ChatTemplate.compile(
                "{% for i in range(1000) %}{% for j in range(1000) %}{{ messages[0].content }}{% endfor %}{% endfor %}");
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        for (int round = 0; round < 5; round++) {
            long start = System.nanoTime();
            long cpuStart = cpu.getCurrentThreadCpuTime();
            try {
                amplifier.render(context, RenderLimits.DEFAULTS, clock);
            } catch (TemplateException e) {
                System.out.printf("nested range(1000) amplification stopped after %.1f ms (%.1f ms CPU): %s%n",
                        (System.nanoTime() - start) / 1e6, (cpu.getCurrentThreadCpuTime() - cpuStart) / 1e6,
                        e.getMessage());
            }
        }
        long start = System.nanoTime();
        try {
            ChatTemplate.compile("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                    + "{% endfor %}").render(context, RenderLimits.DEFAULTS, clock);
        } catch (TemplateException e) {
            System.out.printf("string doubling stopped after %.1f ms: %s%n", (System.nanoTime() - start) / 1e6,
                    e.getMessage());
        }
    }
}
