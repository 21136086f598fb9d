package io.kvpilot.engine;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * Reservations within the budget: a changed plan moves a reservation by its difference, only when that fits; a
 * smaller plan always fits; what is given back is reserved again.
 */
class KvCacheManagerTest {

    @Test
    void aLargerPlanIsReservedOnlyWhenTheDifferenceFits() {
        KvCacheManager budget = KvCacheManager.reserving(1000, () -> null);
        assertThat(budget.tryReserve(400)).isTrue();
        assertThat(budget.tryReserve(300)).isTrue();

        assertThat(budget.tryReplan(400, 800)).as("700 - 400 + 800 > 1000").isFalse();
        assertThat(budget.reservedBytes()).isEqualTo(700);
        assertThat(budget.tryReplan(400, 700)).isTrue();
        assertThat(budget.reservedBytes()).isEqualTo(1000);
    }

    @Test
    void aSmallerPlanAlwaysFitsAndFreesTheDifference() {
        KvCacheManager budget = KvCacheManager.reserving(1000, () -> null);
        assertThat(budget.tryReserve(1000)).isTrue();

        assertThat(budget.tryReplan(1000, 250)).isTrue();
        assertThat(budget.reservedBytes()).isEqualTo(250);
        assertThat(budget.tryReserve(750)).isTrue();
        budget.release(250);
        budget.release(750);
        assertThat(budget.reservedBytes()).isZero();
    }

    @Test
    void aReservationThatDoesNotFitReservesNothingAndGivingBackMoreThanReservedIsRefused() {
        KvCacheManager budget = KvCacheManager.reserving(1000, () -> null);
        assertThat(budget.tryReserve(600)).isTrue();
        assertThat(budget.tryReserve(401)).isFalse();
        assertThat(budget.reservedBytes()).isEqualTo(600);
        assertThat(budget.budgetBytes()).isEqualTo(1000);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> budget.release(601));
    }
}
