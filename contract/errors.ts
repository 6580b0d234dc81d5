import { RackcastError } from '../common/errors.ts';

// The one error of the contract: a field that breaks its grammar. The agent reports it as
// the pseudo-step `plan` (nothing on the disk was touched); the server turns it into a
// config error naming the key the field came from.

export class PlanError extends RackcastError {
  readonly field: string;
  readonly value: unknown;
  readonly expected: string;

  constructor(field: string, value: unknown, expected: string) {
    super('CONTRACT_PLAN_INVALID', `install plan: ${field} is ${JSON.stringify(value)}; expected ${expected}`, {
      details: { field, value, expected },
      remedy: `fix ${field} in the node's install plan on the boot server`,
    });
    this.name = 'PlanError';
    this.field = field;
    this.value = value;
    this.expected = expected;
  }
}
