// SPOOL_INTROSPECTION=off: the schema stays private on every transport. Introspection is
// refused by a validation rule (yoga's disable-introspection plugin keys on the HTTP request,
// so graphql-ws operations slipped past it), and graphql-js's "Did you mean …" hints are cut
// from every error: validation (fields, arguments, types, enum values, input fields) and
// execution too, where variables are coerced ("Field "stauts" is not defined by type
// "JobFilter". Did you mean "status"?") — armor's suggestion blocker sees validation only,
// and misses "Did you mean the enum value …".
import { NoSchemaIntrospectionCustomRule, type ExecutionResult } from "graphql";
import { handleStreamOrSingleExecutionResult, type Plugin } from "graphql-yoga";

const NAME = `"[_A-Za-z][_0-9A-Za-z]*"`;
/** graphql-js's didYouMean(): ` Did you mean "a"?`, `… "a" or "b"?`, `… "a", "b", or "c"?`, `… the enum value "A"?`. */
const SUGGESTION = new RegExp(`\\s*Did you mean (?:the enum value )?${NAME}(?:, ${NAME})*(?:,? or ${NAME})?\\?`, "g");

function withoutSuggestions(errors: readonly Error[] | undefined): void {
  // In place: the errors may already be the masked copies, or be copied by masking later.
  for (const error of errors ?? []) error.message = error.message.replace(SUGGESTION, "");
}

const onResult = ({ result }: { result: ExecutionResult }) => withoutSuggestions(result.errors);

export function useHideSchema(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
      return ({ result }) => withoutSuggestions(result);
    },
    onExecute: () => ({ onExecuteDone: (payload) => handleStreamOrSingleExecutionResult(payload, onResult) }),
    onSubscribe: () => ({ onSubscribeResult: (payload) => handleStreamOrSingleExecutionResult(payload, onResult) }),
  };
}
