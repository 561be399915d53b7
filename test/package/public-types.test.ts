/**
 * A type that a public signature names must be importable: for every declaration exported by
 * an `exports` entry (its source, src/...), every type its public members mention is exported
 * by some entry too. Walks declarations with the TypeScript compiler; bodies, private and
 * protected members are not the public surface and are not walked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(REPO, 'src') + path.sep;

/** Known leaks, each with the reason it is left: implementation objects on public fields. */
const KNOWN: Record<string, string> = {
  RedisBrokerCore: 'RedisBroker.core is an implementation field (should be private)',
  RedisKeyspace: 'reached only through RedisBroker.core',
  PriorityStep: 'reached only through RedisBroker.core',
  PRIORITY_STEPS: 'reached only through RedisBroker.core',
  QueueList: 'reached only through RedisBroker.core',
  RedisBrokerSettings: 'reached only through RedisBroker.core',
  LuaScript: 'reached only through RedisBroker.core',
  ScriptArg: 'reached only through RedisBroker.core',
  HeldDelivery: 'reached only through RedisBroker.core',
  ResultKeyspace: 'RedisBackend.keys is an implementation field (should be private)',
};

function entrySources(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    exports: Record<string, { types?: string } | string>;
  };
  return Object.values(manifest.exports)
    .flatMap((target) => (typeof target === 'object' && target.types ? [target.types] : []))
    .map((types) =>
      path.join(REPO, types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts')),
    );
}

function isHidden(node: ts.Node): boolean {
  if (
    !ts.isPropertyDeclaration(node) &&
    !ts.isMethodDeclaration(node) &&
    !ts.isGetAccessor(node) &&
    !ts.isSetAccessor(node)
  )
    return false;
  if (node.name && ts.isPrivateIdentifier(node.name)) return true;
  return ts.getCombinedModifierFlags(node) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)
    ? true
    : false;
}

it('exports every type that a public signature of an exports entry names', () => {
  const entries = entrySources();
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(REPO, 'tsconfig.json'),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  const program = ts.createProgram(entries, config!.options);
  const checker = program.getTypeChecker();
  const resolve = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;

  const exported = new Set<ts.Symbol>();
  for (const entry of entries) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    for (const symbol of checker.getExportsOfModule(module)) exported.add(resolve(symbol));
  }
  expect(exported.size).toBeGreaterThan(50);

  const missing = new Map<string, Set<string>>();
  const seen = new Set<ts.Symbol>();
  const visitSymbol = (symbol: ts.Symbol, from: string) => {
    const declaration = symbol.declarations?.[0];
    if (
      !declaration ||
      !declaration.getSourceFile().fileName.startsWith(SRC) ||
      symbol.flags & ts.SymbolFlags.TypeParameter
    )
      return;
    if (!exported.has(symbol))
      missing.set(symbol.name, (missing.get(symbol.name) ?? new Set()).add(from));
    if (seen.has(symbol)) return;
    seen.add(symbol);
    for (const node of symbol.declarations ?? []) visit(node, symbol.name);
  };
  const visit = (node: ts.Node, from: string): void => {
    if (ts.isBlock(node) || isHidden(node)) return;
    const name = ts.isTypeReferenceNode(node)
      ? node.typeName
      : ts.isExpressionWithTypeArguments(node)
        ? node.expression
        : ts.isTypeQueryNode(node)
          ? node.exprName
          : undefined;
    const symbol = name && checker.getSymbolAtLocation(name);
    if (symbol) visitSymbol(resolve(symbol), from);
    // A property's initializer is an implementation detail unless it is all the type there is.
    ts.forEachChild(node, (child) => {
      if (ts.isPropertyDeclaration(node) && child === node.initializer && node.type) return;
      visit(child, from);
    });
  };
  for (const symbol of exported) {
    if (seen.has(symbol)) continue;
    seen.add(symbol);
    for (const node of symbol.declarations ?? []) visit(node, symbol.name);
  }

  const unexported = [...missing]
    .filter(([name]) => !(name in KNOWN))
    .map(([name, from]) => `${name} (named by ${[...from].join(', ')})`);
  expect(unexported).toEqual([]);
}, 120_000);
