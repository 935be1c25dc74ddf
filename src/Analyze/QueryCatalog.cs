using System.Globalization;
using System.Reflection;

namespace Pipeline.Analyze;

/// <summary>A named query shipped in <c>queries/NAME.sql</c>.</summary>
/// <param name="Name">File name without extension.</param>
/// <param name="Description">The first <c>-- </c> comment line of the file.</param>
/// <param name="Parameters">Declared parameters (<c>-- param: name=default  description</c>).</param>
/// <param name="Sql">The query text.</param>
public sealed record NamedQuery(string Name, string Description, IReadOnlyList<QueryParameter> Parameters, string Sql);

/// <summary>A parameter a named query reads with <c>getvariable('name')</c>.</summary>
/// <param name="Name">Parameter name.</param>
/// <param name="Default">Value used when <c>--param</c> does not set it.</param>
/// <param name="Description">What it means.</param>
public sealed record QueryParameter(string Name, string Default, string Description);

/// <summary>
/// The queries embedded from <c>queries/*.sql</c>. A query file starts with comment lines:
/// the first is its one-line description, and each <c>-- param: name=default  text</c> declares a
/// parameter the SQL reads through <c>getvariable('name')</c> (values are bound, never spliced).
/// </summary>
public static class QueryCatalog
{
    private const string ResourcePrefix = "queries/";
    private static readonly Lazy<IReadOnlyList<NamedQuery>> s_all = new(Load);

    /// <summary>All embedded queries, ordered by name.</summary>
    public static IReadOnlyList<NamedQuery> All => s_all.Value;

    /// <summary>Finds a query by name.</summary>
    /// <exception cref="KeyNotFoundException">No query of that name; the message lists the known names.</exception>
    public static NamedQuery Get(string name)
    {
        foreach (var query in All)
        {
            if (string.Equals(query.Name, name, StringComparison.Ordinal))
            {
                return query;
            }
        }
        throw new KeyNotFoundException(
            $"No query named '{name}' (resource '{ResourcePrefix}{name}.sql' is not embedded). Known queries: {string.Join(", ", All.Select(q => q.Name))}.");
    }

    /// <summary>Parses the header comments of a query file.</summary>
    public static NamedQuery Parse(string name, string sql)
    {
        string? description = null;
        var parameters = new List<QueryParameter>();
        using var reader = new StringReader(sql);
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            var trimmed = line.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }
            if (!trimmed.StartsWith("--", StringComparison.Ordinal))
            {
                break;
            }
            var text = trimmed[2..].Trim();
            if (text.StartsWith("param:", StringComparison.Ordinal))
            {
                parameters.Add(ParseParameter(name, text["param:".Length..].Trim()));
            }
            else if (description is null && text.Length > 0)
            {
                description = text;
            }
        }
        if (description is null)
        {
            throw new FormatException($"Query '{name}' has no description: its first line must be a '-- ' comment saying what it answers.");
        }
        return new NamedQuery(name, description, parameters, sql);
    }

    private static QueryParameter ParseParameter(string queryName, string text)
    {
        int end = text.IndexOfAny([' ', '\t']);
        var assignment = end < 0 ? text : text[..end];
        var description = end < 0 ? "" : text[end..].Trim();
        int equals = assignment.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new FormatException(
                string.Create(CultureInfo.InvariantCulture, $"Query '{queryName}': expected '-- param: name=default description', found '-- param: {text}'."));
        }
        return new QueryParameter(assignment[..equals], assignment[(equals + 1)..], description);
    }

    private static IReadOnlyList<NamedQuery> Load()
    {
        var assembly = typeof(QueryCatalog).Assembly;
        var queries = new List<NamedQuery>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }
            var name = resource[ResourcePrefix.Length..^".sql".Length];
            queries.Add(Parse(name, ReadResource(assembly, resource)));
        }
        queries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return queries;
    }

    private static string ReadResource(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded resource '{resource}' is missing from {assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
