/** restore --table's names: schema.table exactly, quoting for parts that hold a dot, every bad one a problem. */
import { tableNames } from '../../../../task/src/config/readers';

describe('restore --table names', () => {
  test('schema.table, with quotes where a part holds a dot or a quote', () => {
    const problems: string[] = [];
    expect(tableNames(['public.orders', '"my.schema".T', '"a""b"."c.d"', 'Sales.Orders'], problems)).toEqual([
      { schema: 'public', name: 'orders' },
      { schema: 'my.schema', name: 'T' },
      { schema: 'a"b', name: 'c.d' },
      { schema: 'Sales', name: 'Orders' },
    ]);
    expect(problems).toEqual([]);
  });

  test('a name without a schema, or with more than one dot unquoted, is a problem, each listed', () => {
    const problems: string[] = [];
    expect(tableNames(['orders', 'a.b.c', '.x', 'ok.fine'], problems)).toEqual([{ schema: 'ok', name: 'fine' }]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/--table "orders" is not schema\.table/);
  });
});
