/** Part 2 of the whole-member simulation's seeds in the test suite (see `seeds.ts`). */
import { seedsTest } from "./seeds.ts";

seedsTest(2);
