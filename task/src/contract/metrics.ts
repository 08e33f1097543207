/** Dimensions of every metric: the project (when configured) and the database. */
export function metricDimensions(project: string | undefined, database: string): Record<string, string> {
  return project ? { Project: project, Database: database } : { Database: database };
}
