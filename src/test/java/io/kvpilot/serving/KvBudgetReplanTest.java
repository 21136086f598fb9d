package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A changed plan moves a reservation by its difference, only when that fits; a smaller plan always fits. */
class KvBudgetReplanTest {

    @Test
    void aLargerPlanIsReservedOnlyWhenTheDifferenceFits() {
        KvBudget budget = new KvBudget(1000);
        assertThat(budget.tryReserve(400)).isTrue();
        assertThat(budget.tryReserve(300)).isTrue();

        assertThat(budget.tryReplan(400, 800)).as("700 - 400 + 800 > 1000").isFalse();
        assertThat(budget.reservedBytes()).isEqualTo(700);
        assertThat(budget.tryReplan(400, 700)).isTrue();
        assertThat(budget.reservedBytes()).isEqualTo(1000);
    }

    @Test
    void aSmallerPlanAlwaysFitsAndFreesTheDifference() {
        KvBudget budget = new KvBudget(1000);
        assertThat(budget.tryReserve(1000)).isTrue();

        assertThat(budget.tryReplan(1000, 250)).isTrue();
        assertThat(budget.reservedBytes()).isEqualTo(250);
        assertThat(budget.tryReserve(750)).isTrue();
        budget.release(250);
        budget.release(750);
        assertThat(budget.reservedBytes()).isZero();
    }
}
