Feature: Data schemas
  As a user of swirl
  I want the input, output and context checked against the schemas the document gives
  So that a workflow faults where bad data enters, with an error that says where and why

  # Everything conforms: the workflow runs as if the schemas were not there
  Scenario: Conforming Data Passes Every Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-pass
      version: '1.0.0'
    input:
      schema:
        format: json
        document:
          type: object
          required: [ id ]
          properties:
            id:
              type: integer
              minimum: 1
      from: '{ id: .id, doubled: (.id * 2) }'
    do:
      - price:
          input:
            schema:
              document:
                type: object
                required: [ doubled ]
          set:
            total: ${ .doubled * 10 }
          output:
            as: '{ total: .total, currency: "EUR" }'
            schema:
              document:
                type: object
                required: [ total, currency ]
          export:
            as: '{ priced: true }'
            schema:
              document:
                type: object
                properties:
                  priced:
                    const: true
    output:
      schema:
        document:
          type: object
          properties:
            total:
              type: number
    """
    And given the workflow input is:
    """yaml
    id: 3
    extra: ignored
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    total: 60
    currency: EUR
    """

  # The workflow's input is checked on the raw input, before input.from
  Scenario: Workflow Input Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-workflow-input
      version: '1.0.0'
    input:
      schema:
        document:
          type: object
          required: [ id ]
          properties:
            id:
              type: integer
      from: '{ id: 1 }'
    do:
      - never:
          set:
            ran: true
    """
    And given the workflow input is:
    """yaml
    id: seven
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    instance: /
    """

  # A task's input schema is checked on its raw input, before input.from;
  # the validation error is caught like any other
  Scenario: Task Input Not Matching Its Schema Is Caught
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-task-input
      version: '1.0.0'
    do:
      - guarded:
          try:
            - charge:
                input:
                  schema:
                    document:
                      type: object
                      required: [ amount ]
                  from: '{ amount: 1 }'
                set:
                  charged: ${ .amount }
          catch:
            errors:
              with:
                type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
                status: 400
            as: problem
            do:
              - explain:
                  set:
                    instance: ${ $problem.instance }
                    status: ${ $problem.status }
    """
    And given the workflow input is:
    """yaml
    total: 5
    """
    When the workflow is executed
    Then the workflow should complete with output:
    """yaml
    instance: /do/0/guarded/try/0/charge
    status: 400
    """

  # A task's output schema is checked after output.as
  Scenario: Task Output Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-task-output
      version: '1.0.0'
    do:
      - compute:
          set:
            value: 42
          output:
            as: .value
            schema:
              document:
                type: string
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    instance: /do/0/compute
    """

  # The context a task exports is checked against export.schema
  Scenario: Exported Context Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-export
      version: '1.0.0'
    do:
      - remember:
          set:
            customer: Ada
          export:
            as: .customer
            schema:
              document:
                type: object
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    instance: /do/0/remember
    """

  # The workflow's output is checked after its output.as
  Scenario: Workflow Output Not Matching Its Schema
    Given a workflow with definition:
    """yaml
    document:
      dsl: '1.0.3'
      namespace: default
      name: schemas-workflow-output
      version: '1.0.0'
    do:
      - compute:
          set:
            items: [ 1, 2, 3 ]
    output:
      as: .items
      schema:
        document:
          type: array
          maxItems: 2
    """
    When the workflow is executed
    Then the workflow should fault with error:
    """yaml
    type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
    status: 400
    instance: /
    """
