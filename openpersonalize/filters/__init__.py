"""Amazon Personalize filter expressions: grammar, parser and compiler to item/user masks.

Pure library (no HTTP, no SQL)::

    expr = parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) | '
                        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")')
    expr.parameters                      # {"GENRE"}
    compiled = compile_filter(expr, ItemCatalog(items_table, item_ids))
    allowed = compiled.mask(UserContext(metadata, item_idx, event_types), {"GENRE": '"Comedy"'})
"""

from openpersonalize.filters.catalog import ItemCatalog, MetadataCatalog, UserCatalog
from openpersonalize.filters.compiler import (
    CompiledFilter,
    CompiledUserFilter,
    UserContext,
    compile_filter,
    compile_user_filter,
)
from openpersonalize.filters.model import (
    BoolOp,
    Condition,
    Expression,
    FieldRef,
    FilterExpr,
    NumberValue,
    Param,
    StringValue,
    Wildcard,
)
from openpersonalize.filters.parser import (
    MAX_DISTINCT_FIELDS,
    MAX_EXPRESSION_LENGTH,
    MAX_EXPRESSIONS,
    FilterSyntaxError,
    parse_filter,
)
from openpersonalize.filters.values import (
    MAX_VALUES_PER_PARAMETER,
    FilterValueError,
    bind_parameters,
    parse_parameter_value,
)

__all__ = [
    "MAX_DISTINCT_FIELDS",
    "MAX_EXPRESSIONS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_VALUES_PER_PARAMETER",
    "BoolOp",
    "CompiledFilter",
    "CompiledUserFilter",
    "Condition",
    "Expression",
    "FieldRef",
    "FilterExpr",
    "FilterSyntaxError",
    "FilterValueError",
    "ItemCatalog",
    "MetadataCatalog",
    "NumberValue",
    "Param",
    "StringValue",
    "UserCatalog",
    "UserContext",
    "Wildcard",
    "bind_parameters",
    "compile_filter",
    "compile_user_filter",
    "parse_filter",
    "parse_parameter_value",
]
