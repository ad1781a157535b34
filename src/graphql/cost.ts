// The cost limit: roughly how many values a response may hold. Every field counts 1; the
// fields under a paged field (`first`/`last` of a connection, `limit` of Document.pages)
// count once per row it can return — the argument's value from the document or the
// variables, else its default, else the connection default of 20. Other lists (edges,
// attempts, renditions) are bounded by the data and count once. Depth is capped on its own
// (maxDepth), so there is no per-level factor.
//
// Why not graphql-armor's costLimit: it compounds ×1.5 per level and multiplies only by
// literal `first` values, so the webhooks dashboard (endpoints with their deliveries and
// pageInfo, 20 of each) cost ~85,000 against 10,000 while `first: $n` counted as 1 whatever
// $n was. It is checked at execution, where the variables are known: yoga caches a
// document's validation result whatever the variables.
import {
  getNamedType, getOperationAST, GraphQLError, isObjectType, isInterfaceType, Kind,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLCompositeType, type GraphQLField, type GraphQLSchema,
  type OperationDefinitionNode, type SelectionSetNode, type ValueNode,
} from "graphql";
import type { Plugin } from "graphql-yoga";

const PAGE_ARGS = ["first", "last", "limit"];

type Walk = {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
  defaultPageSize: number;
  /** A fragment's cost, computed once however often it is spread (a fragment "bomb" stays linear). */
  fragmentCosts: Map<string, number>;
};

function intOf(node: ValueNode, w: Walk): number | null {
  if (node.kind === Kind.INT) return Number(node.value);
  if (node.kind !== Kind.VARIABLE) return null;
  const given = w.variables[node.name.value];
  if (typeof given === "number") return given;
  const fallback = w.operation.variableDefinitions?.find((d) => d.variable.name.value === node.name.value)?.defaultValue;
  return fallback?.kind === Kind.INT ? Number(fallback.value) : null;
}

/** How many rows a paged field can return; 1 for any other field. */
function rowsOf(field: GraphQLField<unknown, unknown>, args: readonly { name: { value: string }; value: ValueNode }[], w: Walk): number {
  const pageArgs = field.args.filter((a) => PAGE_ARGS.includes(a.name));
  if (pageArgs.length === 0) return 1;
  for (const a of args) {
    if (!PAGE_ARGS.includes(a.name.value)) continue;
    const n = intOf(a.value, w);
    if (n !== null) return Math.max(n, 0);
  }
  const declared = pageArgs.find((a) => typeof a.defaultValue === "number")?.defaultValue;
  return typeof declared === "number" ? declared : w.defaultPageSize;
}

function selectionCost(set: SelectionSetNode, parent: GraphQLCompositeType, w: Walk): number {
  let cost = 0;
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      const fields = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields() : {};
      const field = fields[s.name.value];
      if (!field) {
        cost += 1; // __typename, or a field validation refuses
        continue;
      }
      const type = getNamedType(field.type) as GraphQLCompositeType;
      cost += 1 + (s.selectionSet ? rowsOf(field, s.arguments ?? [], w) * selectionCost(s.selectionSet, type, w) : 0);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      const on = s.typeCondition ? (w.schema.getType(s.typeCondition.name.value) as GraphQLCompositeType | undefined) : parent;
      if (on) cost += selectionCost(s.selectionSet, on, w);
    } else {
      cost += fragmentCost(s.name.value, w);
    }
  }
  return cost;
}

function fragmentCost(name: string, w: Walk): number {
  const known = w.fragmentCosts.get(name);
  if (known !== undefined) return known;
  w.fragmentCosts.set(name, 0); // a cycle (refused by validation) adds nothing
  const fragment = w.fragments.get(name);
  const on = fragment && (w.schema.getType(fragment.typeCondition.name.value) as GraphQLCompositeType | undefined);
  const cost = fragment && on ? selectionCost(fragment.selectionSet, on, w) : 0;
  w.fragmentCosts.set(name, cost);
  return cost;
}

/** The estimated cost of the operation `operationName` of `document`; 0 if there is no such operation. */
function queryCost(schema: GraphQLSchema, document: DocumentNode, opts: { operationName?: string | null; variables?: Record<string, unknown> | null; defaultPageSize: number }): number {
  const operation = getOperationAST(document, opts.operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return 0;
  const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d] as const));
  const w: Walk = { schema, operation, fragments, variables: opts.variables ?? {}, defaultPageSize: opts.defaultPageSize, fragmentCosts: new Map() };
  return selectionCost(operation.selectionSet, root, w);
}

/** Refuses an operation whose cost is over `maxCost` with COST_LIMIT_EXCEEDED, before anything runs. */
export function useCostLimit(limits: { maxCost: number; defaultPageSize: number }): Plugin {
  const check = ({ args, setResultAndStopExecution }: { args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: Record<string, unknown> | null }; setResultAndStopExecution: (r: { errors: GraphQLError[] }) => void }) => {
    const cost = queryCost(args.schema, args.document, { operationName: args.operationName, variables: args.variableValues, defaultPageSize: limits.defaultPageSize });
    if (cost <= limits.maxCost) return;
    setResultAndStopExecution({
      errors: [new GraphQLError(`The operation's estimated cost is ${cost}, over the limit of ${limits.maxCost}: ask for fewer rows (first, limit) or fewer fields under them, or split it into several operations.`, {
        extensions: { code: "COST_LIMIT_EXCEEDED", cost, limit: limits.maxCost },
      })],
    });
  };
  return { onExecute: check, onSubscribe: check };
}
