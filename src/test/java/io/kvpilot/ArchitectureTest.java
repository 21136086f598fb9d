package io.kvpilot;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/** Keeps the package directions of README's layout: api → serving → engine → kvcache; policy reads telemetry. */
@AnalyzeClasses(packages = "io.kvpilot", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

    @ArchTest
    static final ArchRule layers = layeredArchitecture()
            .consideringOnlyDependenciesInLayers()
            .withOptionalLayers(true)
            .layer("api").definedBy("io.kvpilot.api..")
            .layer("eval").definedBy("io.kvpilot.eval..")
            .layer("serving").definedBy("io.kvpilot.serving..")
            .layer("policy").definedBy("io.kvpilot.policy..")
            .layer("telemetry").definedBy("io.kvpilot.telemetry..")
            .layer("engine").definedBy("io.kvpilot.engine..")
            .layer("kvcache").definedBy("io.kvpilot.kvcache..")
            .whereLayer("api").mayNotBeAccessedByAnyLayer()
            .whereLayer("eval").mayNotBeAccessedByAnyLayer()
            .whereLayer("serving").mayOnlyBeAccessedByLayers("api")
            .whereLayer("policy").mayOnlyBeAccessedByLayers("serving", "api")
            .whereLayer("telemetry").mayOnlyBeAccessedByLayers("policy", "serving", "api")
            .whereLayer("engine").mayOnlyBeAccessedByLayers("serving", "api", "policy", "eval")
            .whereLayer("kvcache").mayOnlyBeAccessedByLayers("engine", "serving", "api", "policy", "eval");

    @ArchTest
    static final ArchRule engineAndCacheKnowNoSpringOrHttp = noClasses()
            .that().resideInAnyPackage("io.kvpilot.engine..", "io.kvpilot.kvcache..")
            .should().dependOnClassesThat().resideInAnyPackage(
                    "org.springframework..", "reactor..", "io.netty..", "jakarta.servlet..");

    /**
     * The chat-template interpreter is a sandbox by construction: it touches nothing but plain Java values, so no
     * reflection, class loading, I/O or other KVPilot code can be reached from a template.
     */
    @ArchTest
    static final ArchRule templateInterpreterUsesOnlyPlainValues = classes()
            .that().resideInAPackage("io.kvpilot.engine.template..")
            .should().onlyDependOnClassesThat().resideInAnyPackage("io.kvpilot.engine.template..", "java.lang",
                    "java.util", "java.util.function", "java.util.stream", "java.util.regex", "java.time",
                    "java.time.format", "java.math");
}
