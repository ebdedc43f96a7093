/** A provider definition that cannot be used; the message names the provider and the field. */
export class ProviderConfigError extends Error {
  constructor(
    public readonly provider: string,
    public readonly field: string,
    message: string,
  ) {
    super(`provider "${provider}", field "${field}": ${message}`);
    this.name = 'ProviderConfigError';
  }
}
