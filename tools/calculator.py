"""Calculator: exact arithmetic, because small models get arithmetic wrong."""
import ast
import operator

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        if isinstance(node.op, ast.Pow) and abs(_evaluate(node.right)) > 100:
            raise ValueError("exponent too large")
        return _OPS[type(node.op)](_evaluate(node.left), _evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    raise ValueError(f"unsupported expression: {ast.dump(node)[:40]}")


def Calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly, e.g. (1200 * 22) / 12 (计算器).

    expression: arithmetic with + - * / // % ** and parentheses
    """
    value = _evaluate(ast.parse(expression.replace("×", "*").replace("÷", "/"), mode="eval").body)
    return f"{expression} = {value:g}" if isinstance(value, float) else f"{expression} = {value}"
