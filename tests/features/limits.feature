Feature: Limits of expressions
  As the operator of a swirl server
  I want a runaway jq expression to end as an expression error
  So that no workflow holds a run thread forever or exhausts the memory

  Scenario: Reduce Over A Huge Range
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: reduce-huge-range
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ reduce range(1e12) as $x (0; . + 1) }'
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """

  Scenario: Last Of A Huge Range
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: last-huge-range
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ last(range(1e12)) }'
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """

  Scenario: Repeat Without Limit
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: repeat-without-limit
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ [repeat(1)] }'
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """

  Scenario: Until That Never Holds
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: until-never
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ until(false; .) }'
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """

  Scenario: Recurse Without End
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: recurse-without-end
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ [recurse(. + 1)] }'
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """

  Scenario: A String Too Large To Build
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: string-too-large
      version: '1.0.0'
    do:
      - spin:
          set:
            value: '${ "x" * .times }'
    """
    And given the workflow input is:
    """yaml
    times: 9000000000000000000
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/expression
    status: 400
    instance: /do/0/spin
    """
