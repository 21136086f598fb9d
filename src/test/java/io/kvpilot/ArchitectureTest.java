package io.kvpilot;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * Keeps the package directions of README's layout: api → serving → engine → kvcache; policy reads telemetry. Inside
 * the engine: the packages outside it see only its API ({@code io.kvpilot.engine}); the batching engine
 * ({@code engine.batch}) drives the libtorch pass ({@code engine.torch}), which hands short passes to the Java kernels
 * ({@code engine.vector}); all of them read the checkpoint ({@code engine.model}), and nothing points back up. Only
 * main classes are imported: the evaluation harness and benchmarks (src/bench/java) compile with the tests.
 */
@AnalyzeClasses(packages = "io.kvpilot", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {

    @ArchTest
    static final ArchRule layers = layeredArchitecture()
            .consideringOnlyDependenciesInLayers()
            .withOptionalLayers(true)
            .layer("api").definedBy("io.kvpilot.api..")
            .layer("serving").definedBy("io.kvpilot.serving..")
            .layer("policy").definedBy("io.kvpilot.policy..")
            .layer("telemetry").definedBy("io.kvpilot.telemetry..")
            .layer("engine").definedBy("io.kvpilot.engine..")
            .layer("kvcache").definedBy("io.kvpilot.kvcache..")
            .whereLayer("api").mayNotBeAccessedByAnyLayer()
            .whereLayer("serving").mayOnlyBeAccessedByLayers("api")
            .whereLayer("policy").mayOnlyBeAccessedByLayers("serving", "api")
            .whereLayer("telemetry").mayOnlyBeAccessedByLayers("policy", "serving", "api")
            .whereLayer("engine").mayOnlyBeAccessedByLayers("serving", "api", "policy")
            .whereLayer("kvcache").mayOnlyBeAccessedByLayers("engine", "serving", "api", "policy");

    private static final String[] ENGINE_PARTS = {"io.kvpilot.engine.model..", "io.kvpilot.engine.torch..",
            "io.kvpilot.engine.vector..", "io.kvpilot.engine.batch..", "io.kvpilot.engine.template.."};

    /** Serving, the API, the controller and telemetry use the engine through its API package alone. */
    @ArchTest
    static final ArchRule outsideTheEngineOnlyItsApi = noClasses()
            .that().resideOutsideOfPackage("io.kvpilot.engine..")
            .should().dependOnClassesThat().resideInAnyPackage(ENGINE_PARTS);

    /**
     * Serving and the API reach KV memory only through the engine's {@code KvCacheManager} (reserve, bytes in use,
     * budget, free): never the pool, a sequence's cache or its stores.
     */
    @ArchTest
    static final ArchRule servingReachesKvMemoryOnlyThroughTheManager = noClasses()
            .that().resideInAnyPackage("io.kvpilot.serving..", "io.kvpilot.api..")
            .should().dependOnClassesThat().haveFullyQualifiedName("io.kvpilot.kvcache.KvBlockPool")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("io.kvpilot.kvcache.SequenceKvCache")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("io.kvpilot.kvcache.KvLayerStore");

    /** The API is free of the parts; only the loader, which assembles an engine from them, knows them. */
    @ArchTest
    static final ArchRule engineApiKnowsNoPartButTheLoader = noClasses()
            .that().resideInAPackage("io.kvpilot.engine").and().doNotHaveSimpleName("EngineLoader")
            .should().dependOnClassesThat().resideInAnyPackage(ENGINE_PARTS);

    /** The checkpoint (config, weights, tokenizer, a pass's segments) knows no forward pass and no batching. */
    @ArchTest
    static final ArchRule modelKnowsNoPassNorBatching = noClasses()
            .that().resideInAPackage("io.kvpilot.engine.model..")
            .should().dependOnClassesThat().resideInAnyPackage(
                    "io.kvpilot.engine.torch..", "io.kvpilot.engine.vector..", "io.kvpilot.engine.batch..");

    /** The Java kernels sit behind the libtorch model's routing: they know neither it nor the batching engine. */
    @ArchTest
    static final ArchRule vectorKernelsKnowNeitherTorchNorBatching = noClasses()
            .that().resideInAPackage("io.kvpilot.engine.vector..")
            .should().dependOnClassesThat().resideInAnyPackage("io.kvpilot.engine.torch..", "io.kvpilot.engine.batch..");

    /** The forward passes run what they are given; sequences, sampling and stopping are the batching engine's. */
    @ArchTest
    static final ArchRule torchPassKnowsNoBatching = noClasses()
            .that().resideInAPackage("io.kvpilot.engine.torch..")
            .should().dependOnClassesThat().resideInAPackage("io.kvpilot.engine.batch..");

    /** The service never depends on the evaluation harness or a benchmark (they live in src/bench/java). */
    @ArchTest
    static final ArchRule serviceKnowsNoBenchmark = noClasses()
            .should().dependOnClassesThat().resideInAPackage("io.kvpilot.eval..")
            .orShould().dependOnClassesThat().haveSimpleNameEndingWith("Benchmark");

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
